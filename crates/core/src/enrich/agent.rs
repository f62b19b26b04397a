//! User-agent classification: turns a raw `User-Agent` header into a browser
//! family and major version, an OS family and a device class, for the
//! `agent {browser, browser_major, os, device}` output fields.
//!
//! It must never let any part of the input through: every string it returns
//! is a `&'static str` from the fixed vocabulary below, and the only number is
//! a major version bounded to 0..=9999. It must not allocate, do I/O, keep
//! state, or panic on any input (it sits on the hot path of every event).
//!
//! Why hand-written rather than a parser crate: `woothee` (the leanest
//! maintained one) pulls in `regex` + `lazy_static`, compiles its rules at
//! start-up, costs several microseconds per call and returns its own strings,
//! which we would have to map back onto a vocabulary anyway. A single pass
//! over the header's tokens, matched against a short table of known product
//! names, covers the browsers, OSes and bots analytics cares about in a few
//! hundred nanoseconds and makes the privacy property hold by construction.

/// Device class of the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceClass {
    Desktop,
    Mobile,
    Tablet,
    Bot,
    Unknown,
}

impl DeviceClass {
    /// The wire value used in the `agent.device` output field.
    pub fn as_str(&self) -> &'static str {
        match self {
            DeviceClass::Desktop => "desktop",
            DeviceClass::Mobile => "mobile",
            DeviceClass::Tablet => "tablet",
            DeviceClass::Bot => "bot",
            DeviceClass::Unknown => "unknown",
        }
    }
}

/// Parsed user agent. All strings come from a fixed vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Agent {
    /// Browser family, or for automated clients the bot/tool name.
    pub browser: Option<&'static str>,
    /// Major version of `browser`, only when it is at most [`MAX_MAJOR`].
    pub browser_major: Option<u32>,
    pub os: Option<&'static str>,
    pub device: DeviceClass,
}

/// Largest major version reported; anything larger is more likely a planted
/// identifier (a card or account number) than a real version, so it is dropped.
pub const MAX_MAJOR: u32 = 9999;

/// Only this many leading bytes are examined. Real browser headers are
/// 100–400 bytes; the bound keeps the cost predictable for hostile inputs.
const MAX_SCAN: usize = 2048;

/// Browser vocabulary. The order is the precedence when several product
/// tokens are present (lower index wins): derived browsers announce the
/// engine they are built on too (Edge says "Chrome" and "Safari"), so the
/// most specific token must win.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
enum Product {
    Edge,
    Opera,
    SamsungInternet,
    YandexBrowser,
    UcBrowser,
    Vivaldi,
    Facebook,
    Instagram,
    Electron,
    ChromeIos,
    FirefoxIos,
    Firefox,
    AndroidWebView,
    Chrome,
    Chromium,
    Safari,
    AndroidBrowser,
    InternetExplorer,
}

impl Product {
    fn name(self) -> &'static str {
        match self {
            Product::Edge => "Edge",
            Product::Opera => "Opera",
            Product::SamsungInternet => "Samsung Internet",
            Product::YandexBrowser => "Yandex Browser",
            Product::UcBrowser => "UC Browser",
            Product::Vivaldi => "Vivaldi",
            Product::Facebook => "Facebook",
            Product::Instagram => "Instagram",
            Product::Electron => "Electron",
            // Chrome and Firefox on iOS are WebKit shells, but users and
            // analysts think of them as Chrome and Firefox.
            Product::ChromeIos | Product::Chrome => "Chrome",
            Product::FirefoxIos | Product::Firefox => "Firefox",
            Product::AndroidWebView => "Android WebView",
            Product::Chromium => "Chromium",
            Product::Safari => "Safari",
            Product::AndroidBrowser => "Android Browser",
            Product::InternetExplorer => "Internet Explorer",
        }
    }
}

/// OS vocabulary, in precedence order (mobile OSes also say "Linux" or
/// "like Mac OS X", so they must win over the desktop ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Platform {
    IPadOs,
    Ios,
    WindowsPhone,
    Android,
    ChromeOs,
    Windows,
    MacOs,
    Linux,
}

impl Platform {
    fn name(self) -> &'static str {
        match self {
            Platform::IPadOs => "iPadOS",
            Platform::Ios => "iOS",
            Platform::WindowsPhone => "Windows Phone",
            Platform::Android => "Android",
            Platform::ChromeOs => "Chrome OS",
            Platform::Windows => "Windows",
            Platform::MacOs => "macOS",
            Platform::Linux => "Linux",
        }
    }
}

/// Known automated clients, matched on the exact product token (case
/// sensitive, as they send it). Tokens not listed but ending in "bot" or
/// containing "spider"/"crawler" still classify as a bot, with no name.
fn known_bot(word: &[u8]) -> Option<&'static str> {
    Some(match word {
        b"Googlebot" | b"Googlebot-Image" | b"Googlebot-News" | b"Googlebot-Video" => "Googlebot",
        b"AdsBot-Google" | b"AdsBot-Google-Mobile" | b"Mediapartners-Google" => "Google AdsBot",
        b"Google-InspectionTool" => "Google-InspectionTool",
        b"bingbot" | b"BingPreview" | b"msnbot" => "bingbot",
        b"Applebot" => "Applebot",
        b"DuckDuckBot" => "DuckDuckBot",
        b"YandexBot" | b"YandexMobileBot" => "YandexBot",
        b"Baiduspider" => "Baiduspider",
        b"Slurp" => "Yahoo Slurp",
        b"facebookexternalhit" | b"facebookcatalog" => "facebookexternalhit",
        b"Twitterbot" => "Twitterbot",
        b"LinkedInBot" => "LinkedInBot",
        b"Slackbot" | b"Slackbot-LinkExpanding" | b"Slack-ImgProxy" => "Slackbot",
        b"Discordbot" => "Discordbot",
        b"TelegramBot" => "TelegramBot",
        b"WhatsApp" => "WhatsApp",
        b"GPTBot" | b"ChatGPT-User" | b"OAI-SearchBot" => "GPTBot",
        b"ClaudeBot" | b"Claude-User" => "ClaudeBot",
        b"AhrefsBot" => "AhrefsBot",
        b"SemrushBot" => "SemrushBot",
        b"Bytespider" => "Bytespider",
        b"PetalBot" => "PetalBot",
        b"HeadlessChrome" => "HeadlessChrome",
        b"PhantomJS" => "PhantomJS",
        b"Chrome-Lighthouse" | b"Lighthouse" => "Lighthouse",
        b"curl" => "curl",
        b"Wget" => "Wget",
        b"python-requests" => "python-requests",
        b"Python-urllib" => "Python-urllib",
        b"aiohttp" => "aiohttp",
        b"python-httpx" => "python-httpx",
        b"Go-http-client" => "Go-http-client",
        b"okhttp" => "okhttp",
        b"Java" | b"Apache-HttpClient" => "Java",
        b"axios" => "axios",
        b"node-fetch" | b"undici" => "node-fetch",
        b"PostmanRuntime" => "PostmanRuntime",
        b"libwww-perl" => "libwww-perl",
        b"Scrapy" => "Scrapy",
        _ => return None,
    })
}

/// Product tokens that identify a browser (exact, case sensitive).
fn browser_token(word: &[u8]) -> Option<Product> {
    Some(match word {
        b"Edg" | b"Edge" | b"EdgA" | b"EdgiOS" => Product::Edge,
        b"OPR" | b"OPiOS" | b"Opera" | b"OPT" => Product::Opera,
        b"SamsungBrowser" => Product::SamsungInternet,
        b"YaBrowser" => Product::YandexBrowser,
        b"UCBrowser" => Product::UcBrowser,
        b"Vivaldi" => Product::Vivaldi,
        b"FBAV" => Product::Facebook,
        b"Instagram" => Product::Instagram,
        b"Electron" => Product::Electron,
        b"CriOS" => Product::ChromeIos,
        b"FxiOS" => Product::FirefoxIos,
        b"Firefox" => Product::Firefox,
        b"Chrome" => Product::Chrome,
        b"Chromium" => Product::Chromium,
        b"MSIE" => Product::InternetExplorer,
        _ => return None,
    })
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// Reads a major version right after `pos` (which points at the separator
/// byte, '/', ':' or ' '), e.g. "/120.0.6099" -> 120. More than four digits
/// yields `None` rather than a truncated or huge number.
fn major_after(bytes: &[u8], pos: usize) -> Option<u32> {
    let sep = *bytes.get(pos)?;
    if sep != b'/' && sep != b':' && sep != b' ' {
        return None;
    }
    let mut value: u32 = 0;
    let mut digits = 0usize;
    for &b in bytes.get(pos + 1..)? {
        if !b.is_ascii_digit() {
            break;
        }
        digits += 1;
        if digits > 4 {
            return None;
        }
        value = value * 10 + u32::from(b - b'0');
    }
    (digits > 0 && value <= MAX_MAJOR).then_some(value)
}

fn ends_with_ignore_case(word: &[u8], suffix: &[u8]) -> bool {
    word.len() >= suffix.len() && word[word.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
}

fn contains_ignore_case(word: &[u8], needle: &[u8]) -> bool {
    word.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// Generic bot heuristics for tokens no table knows.
fn looks_like_bot(word: &[u8]) -> bool {
    // "Cubot" is an Android phone brand whose model names end in "bot".
    (ends_with_ignore_case(word, b"bot") && !word.eq_ignore_ascii_case(b"cubot"))
        || contains_ignore_case(word, b"spider")
        || contains_ignore_case(word, b"crawler")
}

/// Parses a user agent. Never fails: unknown parts are `None`/`Unknown`.
pub fn parse(ua: &str) -> Agent {
    let bytes = ua.as_bytes();
    let bytes = &bytes[..bytes.len().min(MAX_SCAN)];

    let mut best_browser: Option<(Product, Option<u32>)> = None;
    let mut os: Option<Platform> = None;
    let mut bot: Option<Option<(&'static str, Option<u32>)>> = None;
    let mut safari = false;
    let mut version_token: Option<u32> = None; // "Version/17.1" (Safari, old Opera, Android Browser)
    let mut trident = false;
    let mut ie_rv: Option<u32> = None; // IE 11 says "Trident/7.0; rv:11.0"
    let mut mobile_token = false;
    let mut tablet_token = false;
    let mut webview = false;
    let mut prev: &[u8] = b"";

    let mut offer = |b: Product, major: Option<u32>| match best_browser {
        Some((cur, _)) if cur <= b => {}
        _ => best_browser = Some((b, major)),
    };
    let mut set_os = |o: Platform| {
        if os.is_none_or(|cur| o < cur) {
            os = Some(o);
        }
    };

    let mut i = 0usize;
    while i < bytes.len() {
        if !is_word_byte(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && is_word_byte(bytes[i]) {
            i += 1;
        }
        let word = &bytes[start..i];
        // `i` now points at the byte after the word (a separator or the end).
        let major = major_after(bytes, i);

        if let Some(b) = browser_token(word) {
            // "MSIE 10.0" uses a space; every other browser token a slash.
            let slash_or_ie = bytes.get(i) == Some(&b'/') || b == Product::InternetExplorer;
            if slash_or_ie {
                offer(b, major);
            }
        } else if let Some(name) = known_bot(word) {
            // The first named bot wins; a generic match never replaces it.
            if !matches!(bot, Some(Some(_))) {
                bot = Some(Some((name, major)));
            }
        } else {
            match word {
                b"Safari" => safari = true,
                b"Version" => version_token = major,
                b"Trident" => trident = true,
                b"rv" => ie_rv = major,
                b"Mobile" | b"Mobi" => mobile_token = true,
                b"Tablet" => tablet_token = true,
                b"wv" => webview = true,
                b"iPad" => set_os(Platform::IPadOs),
                b"iPhone" | b"iPod" => set_os(Platform::Ios),
                b"Android" => set_os(Platform::Android),
                b"Phone" if prev == b"Windows" => set_os(Platform::WindowsPhone),
                b"CrOS" => set_os(Platform::ChromeOs),
                b"Windows" | b"Win64" | b"Win32" | b"WOW64" => set_os(Platform::Windows),
                b"Macintosh" => set_os(Platform::MacOs),
                b"Linux" | b"X11" | b"Ubuntu" | b"Fedora" => set_os(Platform::Linux),
                b"Kindle" | b"Silk" => tablet_token = true,
                _ => {
                    if bot.is_none() && looks_like_bot(word) {
                        bot = Some(None);
                    }
                }
            }
        }
        prev = word;
    }

    // Resolve engine-only signals into a browser when no product claimed it.
    if webview && matches!(best_browser, Some((Product::Chrome, _))) {
        best_browser = best_browser.map(|(_, m)| (Product::AndroidWebView, m));
    }
    if best_browser.is_none() && trident {
        best_browser = Some((Product::InternetExplorer, ie_rv));
    }
    if best_browser.is_none() && safari {
        best_browser = Some(if os == Some(Platform::Android) {
            (Product::AndroidBrowser, version_token)
        } else {
            (Product::Safari, version_token)
        });
    }
    // Pre-Chromium Opera: "Opera/9.80 (...) Presto/2.12 Version/12.16".
    if let Some((Product::Opera, _)) = best_browser
        && version_token.is_some()
        && bytes.starts_with(b"Opera/")
    {
        best_browser = Some((Product::Opera, version_token));
    }

    if let Some(bot) = bot {
        let (browser, browser_major) = bot.map_or((None, None), |(n, m)| (Some(n), m));
        return Agent {
            browser,
            browser_major,
            os: os.map(Platform::name),
            device: DeviceClass::Bot,
        };
    }

    let device = match os {
        Some(Platform::IPadOs) => DeviceClass::Tablet,
        _ if tablet_token => DeviceClass::Tablet,
        Some(Platform::Ios) | Some(Platform::WindowsPhone) => DeviceClass::Mobile,
        // Android tablets leave out the "Mobile" token; phones include it.
        Some(Platform::Android) if mobile_token => DeviceClass::Mobile,
        Some(Platform::Android) => DeviceClass::Tablet,
        Some(Platform::ChromeOs | Platform::Windows | Platform::MacOs | Platform::Linux) => {
            DeviceClass::Desktop
        }
        None if mobile_token => DeviceClass::Mobile,
        None => DeviceClass::Unknown,
    };

    Agent {
        browser: best_browser.map(|(b, _)| b.name()),
        browser_major: best_browser.and_then(|(_, m)| m),
        os: os.map(Platform::name),
        device,
    }
}

#[cfg(test)]
mod tests;
