//! Enums whose variants each have one spelling in configuration or on the wire.

/// `"a"`, `"a or b"`, `"a, b or c"`: how a problem message lists the accepted values.
///
/// ```
/// assert_eq!(posture_settings::one_of(&["auto", "classic", "pro"]), "auto, classic or pro");
/// ```
pub fn one_of(values: &[&str]) -> String {
    match values {
        [] => String::new(),
        [only] => (*only).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// Entries joined with `, `, or `(empty)` when there are none: how a `check-config` line
/// shows a list such as the groups a device must be in.
///
/// ```
/// assert_eq!(posture_settings::listed(&["Staff", "Macs"], "any"), "Staff, Macs");
/// assert_eq!(posture_settings::listed::<&str>(&[], "any"), "(any)");
/// ```
pub fn listed<T: std::fmt::Display>(entries: &[T], empty: &str) -> String {
    if entries.is_empty() {
        format!("({empty})")
    } else {
        entries
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The comma-separated `text` as values of a spelled enum (whose spellings are `names`), in
/// the order given and each kept once; at least one. The error says what was expected, for
/// [`Reader::parsed`](crate::Reader::parsed): `one` names a single value.
///
/// ```
/// posture_settings::spelled_enum! {
///     /// A colour.
///     #[derive(Clone, Copy, Debug, Eq, PartialEq)]
///     pub enum Colour {
///         /// Red.
///         Red = "red",
///         /// Blue.
///         Blue = "blue",
///     }
///     /// Not a colour.
///     pub struct UnknownColour("colour");
///     parse: any_case
/// }
/// use posture_settings::spelled_list;
/// assert_eq!(
///     spelled_list::<Colour>("Blue, red, blue", &Colour::NAMES, "colour"),
///     Ok(vec![Colour::Blue, Colour::Red])
/// );
/// assert_eq!(
///     spelled_list::<Colour>("red, green", &Colour::NAMES, "colour").unwrap_err(),
///     "a comma-separated list of red, blue (\"green\" is not one)"
/// );
/// assert_eq!(
///     spelled_list::<Colour>(" , ", &Colour::NAMES, "colour").unwrap_err(),
///     "at least one colour"
/// );
/// ```
pub fn spelled_list<T: PartialEq + std::str::FromStr>(
    text: &str,
    names: &[&str],
    one: &str,
) -> Result<Vec<T>, String> {
    let mut chosen = Vec::new();
    for item in crate::split_list(text) {
        match item.parse::<T>() {
            Ok(value) if !chosen.contains(&value) => chosen.push(value),
            Ok(_) => {}
            Err(_) => {
                return Err(format!(
                    "a comma-separated list of {} ({item:?} is not one)",
                    names.join(", ")
                ));
            }
        }
    }
    if chosen.is_empty() {
        return Err(format!("at least one {one}"));
    }
    Ok(chosen)
}

/// Declares an enum whose variants each have one spelling, with what every such enum needs:
/// `ALL` and `NAMES` (in declaration order), `as_str`, `Display`, and `FromStr` with an error
/// type that names the value and every accepted spelling.
///
/// `parse: exact` accepts the spelling only as written; `parse: any_case` trims the text
/// and ignores ASCII case. `NAMES` fits [`Setting::choice`](crate::Setting::choice), so a
/// variable's accepted values are the enum's.
///
/// ```
/// posture_settings::spelled_enum! {
///     /// Which API reads devices.
///     #[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
///     pub enum Api {
///         /// Find the newest.
///         #[default]
///         Auto = "auto",
///         /// The Classic API.
///         Classic = "classic",
///     }
///     /// A value that is not an [`Api`].
///     pub struct UnknownApi("API");
///     parse: any_case
/// }
///
/// assert_eq!(" Classic".parse(), Ok(Api::Classic));
/// assert_eq!(" v2 ".parse::<Api>(), Err(UnknownApi("v2".to_owned())));
/// assert_eq!(Api::Auto.to_string(), "auto");
/// assert_eq!(Api::NAMES, ["auto", "classic"]);
/// assert_eq!(
///     "v2".parse::<Api>().unwrap_err().to_string(),
///     "unknown API \"v2\": expected auto or classic"
/// );
/// ```
#[macro_export]
macro_rules! spelled_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$variant_meta:meta])* $variant:ident = $spelling:literal ),+ $(,)?
        }
        $(#[$error_meta:meta])*
        $error_vis:vis struct $error:ident($what:literal);
        parse: $parse:ident
    ) => {
        $(#[$meta])*
        $vis enum $name {
            $( $(#[$variant_meta])* $variant, )+
        }

        impl $name {
            /// Every variant, in declaration order.
            $vis const ALL: [Self; [$($spelling),+].len()] = [$(Self::$variant),+];

            /// Every spelling, in declaration order.
            $vis const NAMES: [&'static str; [$($spelling),+].len()] = [$($spelling),+];

            /// The variant's spelling.
            $vis const fn as_str(self) -> &'static str {
                match self {
                    $( Self::$variant => $spelling, )+
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        $(#[$error_meta])*
        #[derive(Clone, Debug, Eq, PartialEq)]
        $error_vis struct $error($error_vis String);

        impl ::std::fmt::Display for $error {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                write!(
                    f,
                    "unknown {} {:?}: expected {}",
                    $what,
                    self.0,
                    $crate::one_of(&$name::NAMES)
                )
            }
        }

        impl ::std::error::Error for $error {}

        impl ::std::str::FromStr for $name {
            type Err = $error;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                let text = $crate::spelled_enum!(@text $parse, text);
                $name::ALL
                    .into_iter()
                    .find(|variant| $crate::spelled_enum!(@same $parse, variant.as_str(), text))
                    .ok_or_else(|| $error(text.to_owned()))
            }
        }
    };
    (@text exact, $text:ident) => {
        $text
    };
    (@text any_case, $text:ident) => {
        $text.trim()
    };
    (@same exact, $spelling:expr, $text:ident) => {
        $spelling == $text
    };
    (@same any_case, $spelling:expr, $text:ident) => {
        $spelling.eq_ignore_ascii_case($text)
    };
}

#[cfg(test)]
mod tests {
    crate::spelled_enum! {
        /// A format.
        #[derive(Clone, Copy, Debug, Eq, PartialEq)]
        pub(crate) enum Format {
            /// JSON.
            Json = "json",
            /// CSV.
            Csv = "csv",
            /// One more, for the list.
            Yaml = "yaml",
        }
        /// Not a format.
        pub(crate) struct UnknownFormat("format");
        parse: exact
    }

    #[test]
    fn exact_parsing_takes_only_the_spelling() {
        assert_eq!("csv".parse(), Ok(Format::Csv));
        assert_eq!(
            "CSV".parse::<Format>(),
            Err(UnknownFormat("CSV".to_owned()))
        );
        assert_eq!(
            " csv".parse::<Format>(),
            Err(UnknownFormat(" csv".to_owned()))
        );
        assert_eq!(
            UnknownFormat("xml".to_owned()).to_string(),
            "unknown format \"xml\": expected json, csv or yaml"
        );
    }

    #[test]
    fn every_variant_round_trips() {
        for variant in Format::ALL {
            assert_eq!(variant.to_string().parse(), Ok(variant));
        }
        assert_eq!(Format::NAMES.len(), Format::ALL.len());
    }

    #[test]
    fn one_of_lists_like_a_sentence() {
        assert_eq!(super::one_of(&[]), "");
        assert_eq!(super::one_of(&["a"]), "a");
        assert_eq!(super::one_of(&["a", "b"]), "a or b");
    }
}
