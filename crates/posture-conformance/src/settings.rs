//! The settings tests every provider crate runs on its kind, written once.

/// Writes the settings tests a provider crate runs on its [`Kind`](posture_core::Kind):
///
/// - `the_parser_reads_exactly_the_declared_variables_within_their_bounds`: configuring from
///   `base` (the variables a minimal valid configuration needs) reads exactly the declared
///   variables plus `shared` (such as the server's `TIMEOUT`), and enforces every declared
///   bound ([`Kind::declaration_mismatches`](posture_core::Kind::declaration_mismatches));
/// - with `config`, `provider` and `cache_ttl`, also
///   `values_set_in_code_meet_the_declared_bounds`: a cache TTL set in code beyond the
///   declared day fails the configuration's `check_bounds`, naming the variable, and the
///   provider's `new` refuses it.
///
/// Use it inside the crate's `#[cfg(test)]` module; posture-conformance is a dev-dependency.
///
/// ```
/// use posture_core::{BuildError, BuiltProvider, Kind, ProviderSetup};
/// use posture_settings::{ConfigProblems, Reader, Setting};
///
/// const GREETING: Setting = Setting::text("DEMO_GREETING", "what to say").required();
/// const SETTINGS: &[Setting] = &[GREETING];
///
/// #[derive(Clone, Debug)]
/// struct DemoConfig(String);
/// impl DemoConfig {
///     fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigProblems> {
///         let mut reader = Reader::new(&get);
///         let greeting = reader.required_text(&GREETING);
///         reader.finish()?;
///         Ok(Self(greeting.unwrap_or_default()))
///     }
/// }
/// impl ProviderSetup for DemoConfig {
///     fn summary(&self) -> Vec<String> { Vec::new() }
///     fn build(&self) -> Result<BuiltProvider, BuildError> {
///         Err(BuildError::new("not in this example", std::fmt::Error))
///     }
/// }
/// static KIND: Kind<DemoConfig> = Kind::new("demo", SETTINGS, |get| DemoConfig::from_env(get));
///
/// posture_conformance::settings_tests! {
///     kind: KIND,
///     shared: [],
///     base: &[("DEMO_GREETING", "hello")],
/// }
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! settings_tests {
    (kind: $kind:expr, shared: [$($shared:literal),* $(,)?], base: $base:expr $(,)?) => {
        #[test]
        fn the_parser_reads_exactly_the_declared_variables_within_their_bounds() {
            let mismatches = $kind.declaration_mismatches(&[$($shared),*], $base);
            assert!(mismatches.is_empty(), "{mismatches:#?}");
        }
    };
    (
        kind: $kind:expr,
        shared: [$($shared:literal),* $(,)?],
        base: $base:expr,
        config: $config:ty,
        provider: $provider:ty,
        cache_ttl: $cache_ttl:literal $(,)?
    ) => {
        $crate::settings_tests!(kind: $kind, shared: [$($shared),*], base: $base);

        #[test]
        fn values_set_in_code_meet_the_declared_bounds() {
            let config = <$config>::from_env(::posture_settings::vars($base))
                .expect("the base configuration is valid");
            assert!(config.check_bounds().is_ok());
            let too_long = config.with_cache_ttl(::std::time::Duration::from_secs(86_401));
            let problems = too_long
                .check_bounds()
                .expect_err("a cache TTL over a day is refused");
            assert_eq!(problems.problems()[0].variable, $cache_ttl);
            assert!(<$provider>::new(too_long).is_err());
        }
    };
}
