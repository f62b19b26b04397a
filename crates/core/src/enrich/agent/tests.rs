//! Unit tests of `agent`, kept beside it in their own file so the module itself stays
//! small enough to read in one sitting.

use super::*;
use proptest::prelude::*;

fn check(
    ua: &str,
    browser: Option<&str>,
    major: Option<u32>,
    os: Option<&str>,
    device: DeviceClass,
) {
    let a = parse(ua);
    assert_eq!(
        (a.browser, a.browser_major, a.os, a.device),
        (browser, major, os, device),
        "UA: {ua}"
    );
}

#[test]
fn real_user_agents() {
    use DeviceClass::*;
    type Case<'a> = (
        &'a str,
        Option<&'a str>,
        Option<u32>,
        Option<&'a str>,
        DeviceClass,
    );
    let cases: &[Case] = &[
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
            Some("Chrome"),
            Some(120),
            Some("Windows"),
            Desktop,
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
            Some("Edge"),
            Some(120),
            Some("Windows"),
            Desktop,
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
            Some("Firefox"),
            Some(121),
            Some("Windows"),
            Desktop,
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15",
            Some("Safari"),
            Some(17),
            Some("macOS"),
            Desktop,
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
            Some("Safari"),
            Some(17),
            Some("iOS"),
            Mobile,
        ),
        (
            "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
            Some("Safari"),
            Some(16),
            Some("iPadOS"),
            Tablet,
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1",
            Some("Chrome"),
            Some(120),
            Some("iOS"),
            Mobile,
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/121.0 Mobile/15E148 Safari/605.1.15",
            Some("Firefox"),
            Some(121),
            Some("iOS"),
            Mobile,
        ),
        (
            "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36",
            Some("Chrome"),
            Some(120),
            Some("Android"),
            Mobile,
        ),
        (
            "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36",
            Some("Chrome"),
            Some(119),
            Some("Android"),
            Tablet,
        ),
        (
            "Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
            Some("Samsung Internet"),
            Some(23),
            Some("Android"),
            Mobile,
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 OPR/106.0.0.0",
            Some("Opera"),
            Some(106),
            Some("Windows"),
            Desktop,
        ),
        (
            "Opera/9.80 (Windows NT 6.1; WOW64) Presto/2.12.388 Version/12.18",
            Some("Opera"),
            Some(12),
            Some("Windows"),
            Desktop,
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; rv:11.0) like Gecko",
            Some("Internet Explorer"),
            Some(11),
            Some("Windows"),
            Desktop,
        ),
        (
            "Mozilla/5.0 (compatible; MSIE 10.0; Windows NT 6.1; Trident/6.0)",
            Some("Internet Explorer"),
            Some(10),
            Some("Windows"),
            Desktop,
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
            Some("Chrome"),
            Some(120),
            Some("Linux"),
            Desktop,
        ),
        (
            "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
            Some("Firefox"),
            Some(121),
            Some("Linux"),
            Desktop,
        ),
        (
            "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
            Some("Chrome"),
            Some(120),
            Some("Chrome OS"),
            Desktop,
        ),
        (
            "Mozilla/5.0 (Linux; Android 13; Pixel 7 Build/TQ3A.230805.001; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.43 Mobile Safari/537.36",
            Some("Android WebView"),
            Some(120),
            Some("Android"),
            Mobile,
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Slack/4.36.140 Chrome/120.0.6099.56 Electron/28.1.0 Safari/537.36",
            Some("Electron"),
            Some(28),
            Some("macOS"),
            Desktop,
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 YaBrowser/24.1.0.0 Safari/537.36",
            Some("Yandex Browser"),
            Some(24),
            Some("Windows"),
            Desktop,
        ),
        (
            "Mozilla/5.0 (Linux; U; Android 4.0.3; en-us; HTC Sensation Build/IML74K) AppleWebKit/534.30 (KHTML, like Gecko) Version/4.0 Mobile Safari/534.30",
            Some("Android Browser"),
            Some(4),
            Some("Android"),
            Mobile,
        ),
        (
            "Mozilla/5.0 (Android 14; Mobile; rv:121.0) Gecko/121.0 Firefox/121.0",
            Some("Firefox"),
            Some(121),
            Some("Android"),
            Mobile,
        ),
        (
            "Mozilla/5.0 (Windows Phone 10.0; Android 6.0.1; Microsoft; Lumia 950) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/52.0.2743.116 Mobile Safari/537.36 Edge/15.15063",
            Some("Edge"),
            Some(15),
            Some("Windows Phone"),
            Mobile,
        ),
        // Bots and tools.
        (
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            Some("Googlebot"),
            Some(2),
            None,
            Bot,
        ),
        (
            "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.71 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            Some("Googlebot"),
            Some(2),
            Some("Android"),
            Bot,
        ),
        (
            "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
            Some("bingbot"),
            Some(2),
            None,
            Bot,
        ),
        ("curl/8.4.0", Some("curl"), Some(8), None, Bot),
        (
            "python-requests/2.31.0",
            Some("python-requests"),
            Some(2),
            None,
            Bot,
        ),
        (
            "Mozilla/5.0 (compatible; SomeNewCrawler/1.0; +https://example.org)",
            None,
            None,
            None,
            Bot,
        ),
        (
            "Mozilla/5.0 (compatible; FooBot/3.1)",
            None,
            None,
            None,
            Bot,
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.6099.28 Safari/537.36",
            Some("HeadlessChrome"),
            Some(120),
            Some("Linux"),
            Bot,
        ),
        // Cubot is a phone brand, not a bot.
        (
            "Mozilla/5.0 (Linux; Android 12; CUBOT X50) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Mobile Safari/537.36",
            Some("Chrome"),
            Some(119),
            Some("Android"),
            Mobile,
        ),
    ];
    for (ua, b, m, os, d) in cases {
        check(ua, *b, *m, *os, *d);
    }
}

#[test]
fn garbage_and_edge_cases() {
    use DeviceClass::*;
    check("", None, None, None, Unknown);
    check("   ", None, None, None, Unknown);
    check("////;;;(((", None, None, None, Unknown);
    check("Chrome", None, None, None, Unknown);
    check("Chrome/", Some("Chrome"), None, None, Unknown);
    check("Chrome/abc", Some("Chrome"), None, None, Unknown);
    check("Chrome/99999.1", Some("Chrome"), None, None, Unknown);
    check(
        "Chrome/4111111111111111",
        Some("Chrome"),
        None,
        None,
        Unknown,
    );
    check("Chrome/9999", Some("Chrome"), Some(9999), None, Unknown);
    check("Firefox/0", Some("Firefox"), Some(0), None, Unknown);
    check(
        "\u{0}\u{ffff}Safari\u{1F600}",
        Some("Safari"),
        None,
        None,
        Unknown,
    );
    check("Mobile", None, None, None, Mobile);
    let long = "Mozilla/5.0 (Windows NT 10.0) ".repeat(10_000);
    let a = parse(&long);
    assert_eq!(a.os, Some("Windows"));
}

/// Every string the parser can return, for the privacy assertion.
fn vocabulary() -> Vec<&'static str> {
    let mut v = vec![
        "Edge",
        "Opera",
        "Samsung Internet",
        "Yandex Browser",
        "UC Browser",
        "Vivaldi",
        "Facebook",
        "Instagram",
        "Electron",
        "Chrome",
        "Firefox",
        "Android WebView",
        "Chromium",
        "Safari",
        "Android Browser",
        "Internet Explorer",
        "iPadOS",
        "iOS",
        "Windows Phone",
        "Android",
        "Chrome OS",
        "Windows",
        "macOS",
        "Linux",
    ];
    v.extend([
        "Googlebot",
        "Google AdsBot",
        "Google-InspectionTool",
        "bingbot",
        "Applebot",
        "DuckDuckBot",
        "YandexBot",
        "Baiduspider",
        "Yahoo Slurp",
        "facebookexternalhit",
        "Twitterbot",
        "LinkedInBot",
        "Slackbot",
        "Discordbot",
        "TelegramBot",
        "WhatsApp",
        "GPTBot",
        "ClaudeBot",
        "AhrefsBot",
        "SemrushBot",
        "Bytespider",
        "PetalBot",
        "HeadlessChrome",
        "PhantomJS",
        "Lighthouse",
        "curl",
        "Wget",
        "python-requests",
        "Python-urllib",
        "aiohttp",
        "python-httpx",
        "Go-http-client",
        "okhttp",
        "Java",
        "axios",
        "node-fetch",
        "PostmanRuntime",
        "libwww-perl",
        "Scrapy",
    ]);
    v
}

fn assert_safe(a: &Agent) {
    let vocab = vocabulary();
    for s in [a.browser, a.os].into_iter().flatten() {
        assert!(vocab.contains(&s), "{s:?} not in vocabulary");
    }
    if let Some(m) = a.browser_major {
        assert!(m <= MAX_MAJOR);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn never_panics_and_only_vocabulary(s in "\\PC{0,300}") {
        assert_safe(&parse(&s));
    }

    #[test]
    fn planted_personal_data_never_leaks(
        email in "[a-z]{1,10}@[a-z]{1,8}\\.(com|org)",
        card in "4[0-9]{15}",
        ip in (0u8..=255, 0u8..=255, 0u8..=255, 0u8..=255),
        pos in 0usize..4,
    ) {
        let ip = format!("{}.{}.{}.{}", ip.0, ip.1, ip.2, ip.3);
        let base = [
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/",
            "Safari/",
            "Mozilla/5.0 (compatible; ",
            "curl/",
        ][pos];
        let ua = format!("{base}{card} {email} Chrome/{card} ({ip}; {email}) Version/{ip}");
        let a = parse(&ua);
        assert_safe(&a);
        let rendered = format!("{:?}", a);
        prop_assert!(!rendered.contains(&email));
        prop_assert!(!rendered.contains(&card));
        prop_assert!(!rendered.contains(&ip));
    }
}
