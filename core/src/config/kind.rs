//! The kinds of value a configuration key holds: how a value's text parses, the Rust type it
//! becomes, what an accessor hands out, and how the README names the kind.

use std::path::PathBuf;

pub use ember_connectors::parse_duration;
use ember_connectors::store_options::StoreValue;

use crate::master::Master as MasterUrl;
use crate::memory::MemoryLimit as MemoryLimitValue;

/// The most partitions a key may ask for. A typo such as `99999999` would otherwise make every
/// repartition plan one channel per input and output partition pair and exhaust memory before
/// the first row moves; 10000 is more than the largest shuffle Spark guides advise (a few
/// thousand partitions); at 10000 a 3-row `GROUP BY` in local mode takes 2.5 s and 240 MB (debug
/// build).
pub const MAX_PARTITIONS: usize = 10_000;

/// What kind of value a key holds: decides how its text is validated and how the README's
/// table names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// Free text, not empty.
    Text,
    /// Text that is a credential: never printed.
    Secret,
    /// A positive integer.
    Count,
    /// A partition count: a positive integer up to [`MAX_PARTITIONS`].
    Partitions,
    /// A memory limit: a size such as `512m` or `4g`, a share of memory such as `70%`, or
    /// `unlimited`.
    MemoryLimit,
    /// A filesystem path.
    Path,
    /// A duration such as `10s`, `500ms` or `2m`.
    Duration,
    /// A TCP port, 0 (any free port) to 65535.
    Port,
    /// `true` or `false`.
    Flag,
    /// A master URL: `local`, `local[N]`, `local[*]` or `ember://host:port`.
    Master,
}

impl ValueKind {
    /// How the README's configuration table names this kind.
    pub fn describe(self) -> &'static str {
        match self {
            ValueKind::Text => "text",
            ValueKind::Secret => "text (secret, never printed)",
            ValueKind::Count => "positive integer",
            ValueKind::Partitions => "positive integer up to 10000",
            ValueKind::MemoryLimit => "size (512m, 4g), share (70%) or unlimited",
            ValueKind::Path => "path",
            ValueKind::Duration => "duration (500ms, 10s, 2m)",
            ValueKind::Port => "port (0: any free one)",
            ValueKind::Flag => "true or false",
            ValueKind::Master => "master (local[N], ember://host:port)",
        }
    }

    /// Checks `text` as a value of this kind; the reason when it is not one.
    pub fn check(self, text: &str) -> Result<(), String> {
        fn parses<K: Kind>(text: &str) -> Result<(), String> {
            K::parse(text).map(drop)
        }
        match self {
            ValueKind::Text => parses::<Text>(text),
            ValueKind::Secret => parses::<Secret>(text),
            ValueKind::Count => parses::<Count>(text),
            ValueKind::Partitions => parses::<Partitions>(text),
            ValueKind::MemoryLimit => parses::<MemoryLimit>(text),
            ValueKind::Path => parses::<Path>(text),
            ValueKind::Duration => parses::<Duration>(text),
            ValueKind::Port => parses::<Port>(text),
            ValueKind::Flag => parses::<Flag>(text),
            ValueKind::Master => parses::<Master>(text),
        }
    }
}

impl From<StoreValue> for ValueKind {
    fn from(value: StoreValue) -> Self {
        match value {
            StoreValue::Text => ValueKind::Text,
            StoreValue::Secret => ValueKind::Secret,
            StoreValue::Flag => ValueKind::Flag,
            StoreValue::Path => ValueKind::Path,
            StoreValue::Duration => ValueKind::Duration,
            StoreValue::Count => ValueKind::Count,
        }
    }
}

/// A [`ValueKind`] as a type, so that a key's declaration alone decides the type of its field
/// and accessor.
pub trait Kind {
    /// The kind this type stands for.
    const KIND: ValueKind;
    /// What a value of the kind is stored as.
    type Value: Clone + std::fmt::Debug + PartialEq;
    /// What an accessor returns for a stored value.
    type View<'a>;
    /// Parses a value's text; the reason when it does not parse.
    fn parse(text: &str) -> Result<Self::Value, String>;
    /// The accessor's view of a stored value.
    fn view(value: &Self::Value) -> Self::View<'_>;
}

/// Declares the marker type of one kind.
macro_rules! kind {
    ($marker:ident, $value:ty, $view:ty, |$text:ident| $parse:expr, |$stored:ident| $show:expr) => {
        #[doc = concat!("The marker type of [`ValueKind::", stringify!($marker), "`].")]
        pub struct $marker;

        impl Kind for $marker {
            const KIND: ValueKind = ValueKind::$marker;
            type Value = $value;
            type View<'a> = $view;
            fn parse($text: &str) -> Result<$value, String> {
                $parse
            }
            fn view($stored: &$value) -> Self::View<'_> {
                $show
            }
        }
    };
}

kind!(
    Text,
    String,
    &'a str,
    |text| non_empty(text).map(str::to_string),
    |value| value
);
kind!(
    Secret,
    String,
    &'a str,
    |text| non_empty(text).map(str::to_string),
    |value| value
);
kind!(Count, usize, usize, |text| parse_count(text), |value| {
    *value
});
kind!(
    Partitions,
    usize,
    usize,
    |text| parse_count(text).and_then(|count| {
        if count > MAX_PARTITIONS {
            Err(format!("at most {MAX_PARTITIONS} partitions"))
        } else {
            Ok(count)
        }
    }),
    |value| *value
);
kind!(
    MemoryLimit,
    MemoryLimitValue,
    MemoryLimitValue,
    |text| text.parse::<MemoryLimitValue>(),
    |value| *value
);
kind!(
    Path,
    PathBuf,
    &'a std::path::Path,
    |text| non_empty(text).map(PathBuf::from),
    |value| value
);
kind!(
    Duration,
    std::time::Duration,
    std::time::Duration,
    |text| parse_duration(text),
    |value| *value
);
kind!(
    Port,
    u16,
    u16,
    |text| text
        .parse::<u16>()
        .map_err(|_| "expected a port number from 0 to 65535".to_string()),
    |value| *value
);
kind!(Flag, bool, bool, |text| parse_flag(text), |value| *value);
kind!(
    Master,
    MasterUrl,
    &'a MasterUrl,
    |text| text
        .parse::<MasterUrl>()
        .map_err(|invalid| invalid.explain()),
    |value| value
);

fn non_empty(text: &str) -> Result<&str, String> {
    if text.is_empty() {
        Err("must not be empty".into())
    } else {
        Ok(text)
    }
}

fn parse_flag(text: &str) -> Result<bool, String> {
    match text.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

fn parse_count(value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err("expected a positive integer".into()),
    }
}
