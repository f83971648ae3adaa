//! [`declare!`](crate::declare): settings written as documented constants.

/// Declares [`Setting`](crate::Setting) constants, each with its doc line as a `///` comment.
///
/// Each entry is one doc-comment line, then `vis const NAME = constructor(args)` with any
/// builder calls ([`required`](crate::Setting::required),
/// [`expecting`](crate::Setting::expecting), …). The constructor is one of
/// [`Setting`](crate::Setting)'s, called without its last argument: the doc line becomes that
/// argument (trimmed) and the constant's rustdoc, so what the README, `check-config` and an
/// editor's hover show is written once.
///
/// ```
/// posture_settings::declare! {
///     /// the Acme server's URL, such as https://acme.example.com
///     pub const ACME_URL = url("ACME_URL").required();
///     /// return device data as enrichment
///     pub const ACME_ENRICH = flag("ACME_ENRICH", true);
///     /// requests a second, at most Acme's 50
///     pub const ACME_RATE = number("ACME_RATE", 10, 1, 50, "requests a second");
/// }
///
/// assert_eq!(ACME_URL.doc, "the Acme server's URL, such as https://acme.example.com");
/// assert!(ACME_URL.required);
/// assert_eq!(ACME_ENRICH.default_text().as_deref(), Some("1"));
/// assert_eq!(ACME_RATE.check(51).unwrap_err().to_string(), "ACME_RATE=\"51\" is invalid: expected a whole number of requests a second from 1 to 50");
/// ```
///
/// A declaration needs exactly one doc line; a second line or none is a compile error:
///
/// ```compile_fail
/// posture_settings::declare! {
///     pub const ACME_TOKEN = text("ACME_TOKEN");
/// }
/// ```
#[macro_export]
macro_rules! declare {
    ($(
        #[doc = $doc:literal]
        $vis:vis const $name:ident = $constructor:ident($($arg:expr),* $(,)?)
            $(.$method:ident($($method_arg:expr),* $(,)?))*;
    )*) => {
        $(
            #[doc = $doc]
            $vis const $name: $crate::Setting =
                $crate::Setting::$constructor($($arg,)* $doc.trim_ascii())
                    $(.$method($($method_arg),*))*;
        )*
    };
}

/// Writes the getter and the `with_` setter of a configuration's on/off settings, one pair
/// per `bool` field, both documented by the lines given.
///
/// A flag's getter and setter are the same two lines in every configuration type; writing them
/// once keeps their wording and `#[must_use]` consistent.
///
/// ```
/// #[derive(Default)]
/// pub struct AcmeConfig {
///     enrich: bool,
///     require_mdm: bool,
/// }
///
/// posture_settings::flag_accessors! {
///     AcmeConfig {
///         /// Whether allowed answers carry enrichment data (`ACME_ENRICH`).
///         enrich / with_enrich,
///         /// Whether devices must have MDM enabled (`ACME_REQUIRE_MDM`).
///         require_mdm / with_require_mdm,
///     }
/// }
///
/// let config = AcmeConfig::default().with_enrich(true);
/// assert!(config.enrich());
/// assert!(!config.require_mdm());
/// ```
#[macro_export]
macro_rules! flag_accessors {
    ($config:ty {$(
        $(#[doc = $doc:literal])+
        $field:ident / $setter:ident
    ),* $(,)?}) => {
        impl $config {$(
            $(#[doc = $doc])+
            pub fn $field(&self) -> bool {
                self.$field
            }

            #[doc = concat!("Sets [`", stringify!($field), "`](Self::", stringify!($field), ").")]
            #[doc = ""]
            $(#[doc = $doc])+
            #[must_use]
            pub fn $setter(mut self, on: bool) -> Self {
                self.$field = on;
                self
            }
        )*}
    };
}
