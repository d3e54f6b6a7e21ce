//! The HTML viewer in a real browser: Debian's headless Chromium loads the generated
//! file from disk, runs its JavaScript, and the test reads the DOM it built. The page
//! must ask the network for nothing: Chromium is pointed at a proxy this test owns,
//! and the proxy must see no connection. `.ci/run` installs Chromium; without it these
//! tests fail, they do not skip.

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use faultline::cli::run::run_to_dir;
use faultline_reports::Window;

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("faultline-viewer-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn viewer_of(scenario: &str, dir: &Path) -> PathBuf {
    let s = faultline::cli::load_scenario(scenario).expect("bundled scenario");
    run_to_dir(&s, s.seed, dir).expect("run");
    faultline::cli::report::render(dir, &Window::default()).expect("render");
    dir.join("viewer.html")
}

/// Hosts Chromium itself calls in the background (component updates, sign-in, and
/// since Debian's Chromium 148 a search preconnect and an "AI mode" prefetch to
/// www.google.com), which no flag turns off in Debian's build: a blank page makes the
/// same calls. Anything else through the proxy came from the page; and the page's own
/// resource timing must count no fetch at all (`data-resources="0"`).
const BROWSER_OWN_HOSTS: &[&str] =
    &["update.googleapis.com", "accounts.google.com", "clients2.google.com", "www.google.com"];

/// The host a proxied request is for: "CONNECT host:443" or "GET http://host/...".
fn requested_host(first_line: &str) -> String {
    let target = first_line.split_whitespace().nth(1).unwrap_or("");
    let target = target.strip_prefix("http://").or_else(|| target.strip_prefix("https://")).unwrap_or(target);
    target.split(['/', ':']).next().unwrap_or("").to_string()
}

/// Runs headless Chromium on `page` with `args`, behind a proxy of this test's that
/// records the host of every request made through it. Returns stdout and the hosts
/// the page asked for (Chromium's own background calls left out).
fn chromium(page: &Path, args: &[&str]) -> (String, Vec<String>) {
    chromium_at(page, "", args)
}

/// [`chromium`] on `page` with a URL fragment (`#from=...`).
fn chromium_at(page: &Path, hash: &str, args: &[&str]) -> (String, Vec<String>) {
    let proxy = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
    let port = proxy.local_addr().expect("addr").port();
    proxy.set_nonblocking(true).expect("nonblocking");
    let (seen, done) = (Arc::new(Mutex::new(Vec::new())), Arc::new(AtomicBool::new(false)));
    let (s, d) = (seen.clone(), done.clone());
    // A test harness thread, not simulation code: the ban on threads is for the engine.
    #[allow(clippy::disallowed_methods)]
    let watcher = std::thread::spawn(move || {
        while !d.load(Ordering::SeqCst) {
            if let Ok((mut conn, _)) = proxy.accept() {
                let _ = conn.set_nonblocking(false);
                let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
                let mut buf = [0u8; 512];
                let n = conn.read(&mut buf).unwrap_or(0);
                let line = String::from_utf8_lossy(&buf[..n]).lines().next().unwrap_or("").to_string();
                s.lock().expect("lock").push(requested_host(&line));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    let profile = temp(&format!("profile-{port}"));
    let out = Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"])
        .args(["--disable-component-update", "--disable-sync", "--disable-default-apps", "--window-size=1400,900"])
        .arg(format!("--proxy-server=http://127.0.0.1:{port}"))
        .arg("--proxy-bypass-list=<-loopback>")
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}{}", page.display(), hash))
        .output()
        .expect("Chromium must be installed for the viewer tests (.ci/run installs Debian's chromium)");
    done.store(true, Ordering::SeqCst);
    watcher.join().expect("proxy watcher");
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    let hosts = seen.lock().expect("lock").clone();
    let from_page = hosts.into_iter().filter(|h| !BROWSER_OWN_HOSTS.contains(&h.as_str())).collect();
    (String::from_utf8_lossy(&out.stdout).into_owned(), from_page)
}

fn count(dom: &str, needle: &str) -> usize {
    dom.matches(needle).count()
}

#[test]
fn a_failing_run_renders_with_its_violation_marked_and_no_network() {
    let dir = temp("stale");
    let page = viewer_of("zoo/raft-stale-reads", &dir);
    let (dom, connections) = chromium(&page, &["--dump-dom"]);
    assert_eq!(count(&dom, "class=\"lifeline\""), 3, "one lifeline per node");
    let arrows = count(&dom, "class=\"msg");
    assert!(arrows > 50, "the messages around the violation are drawn: {arrows}");
    assert!(dom.contains("showing 1.064s to 2.064s"), "the page opens around the first violation (1.564s)");
    assert!(dom.contains("data-drawn-messages=\""), "the page ran its script");
    assert_eq!(count(&dom, "id=\"violation-marker\""), 1, "the stuck operation is marked");
    assert!(dom.contains("history is not linearizable"), "the failure is in the header");
    assert!(dom.contains("data-resources=\"0\""), "the page fetched nothing (resource timing)");
    assert!(connections.is_empty(), "the viewer asked the network for {connections:?}");

    let shot = dir.join("viewer.png");
    let (_, connections) = chromium(&page, &[&format!("--screenshot={}", shot.display())]);
    assert!(std::fs::metadata(&shot).map(|m| m.len() > 10_000).unwrap_or(false), "a screenshot was taken");
    assert!(connections.is_empty(), "{connections:?}");
}

#[test]
fn a_commit_run_shows_its_transactions_and_the_broken_atomicity() {
    let dir = temp("threepc");
    let page = viewer_of("commit/threepc-partition", &dir);
    let (dom, connections) = chromium(&page, &["--dump-dom"]);
    assert_eq!(count(&dom, "class=\"lifeline\""), 5, "a coordinator and four participants");
    assert_eq!(count(&dom, "id=\"invariant-marker\""), 1, "the broken invariant is marked on the timeline");
    assert!(dom.contains("invariant `atomicity` violated"), "the failure is in the header");
    assert!(dom.contains("transfer "), "the operations are the bank's transfers");
    assert!(connections.is_empty(), "{connections:?}");
    assert_eq!(count(&dom, "class=\"obs\""), 0, "observations are off until asked for");
    assert!(dom.contains("voted yes on t"), "the participants' observations are in the page");
    let (dom, connections) = chromium_at(&page, "#observations&from=0s&to=60s", &["--dump-dom"]);
    let marks = count(&dom, "class=\"obs\"");
    assert!(marks > 5, "votes and decisions are marked on the lifelines: {marks}");
    assert!(connections.is_empty(), "{connections:?}");
}

#[test]
fn a_passing_run_has_no_violation_marker() {
    let dir = temp("election");
    let page = viewer_of("raft/initial-election", &dir);
    let (dom, connections) = chromium(&page, &["--dump-dom"]);
    assert_eq!(count(&dom, "class=\"lifeline\""), 3);
    assert!(count(&dom, "class=\"msg") > 10);
    assert!(!dom.contains("id=\"violation-marker\""), "no marker on a passing run");
    assert!(dom.contains("data-resources=\"0\""));
    assert!(connections.is_empty(), "{connections:?}");
}

#[test]
fn the_page_is_self_contained() {
    let dir = temp("static");
    let page = viewer_of("raft/initial-election", &dir);
    let html = std::fs::read_to_string(page).expect("viewer");
    for forbidden in ["https://", "<link", "src=\"", "@import"] {
        assert!(!html.contains(forbidden), "the viewer refers to something outside itself: {forbidden}");
    }
    // The only URL is the SVG namespace, which is a name, not a request.
    let urls: Vec<&str> = html.match_indices("http").map(|(i, _)| &html[i..(i + 30).min(html.len())]).collect();
    assert!(urls.iter().all(|u| u.starts_with("http://www.w3.org/2000/svg")), "{urls:?}");
}

/// The network check can fail: a page that loads an image from elsewhere is seen.
#[test]
fn the_network_check_sees_a_page_that_fetches() {
    let dir = temp("fetching");
    std::fs::create_dir_all(&dir).expect("dir");
    let page = dir.join("fetching.html");
    std::fs::write(&page, "<html><body><img src=\"http://cdn.example.invalid/x.png\"></body></html>").expect("page");
    let (_, hosts) = chromium(&page, &["--dump-dom"]);
    assert!(hosts.iter().any(|h| h == "cdn.example.invalid"), "the proxy saw {hosts:?}");
}

/// A link can choose the window and hide nodes or kinds; the page draws accordingly.
#[test]
fn a_link_chooses_the_window_and_the_filters() {
    let dir = temp("hash");
    let page = viewer_of("raft/initial-election", &dir);
    let (all, _) = chromium_at(&page, "#from=0s&to=400ms", &["--dump-dom"]);
    assert!(all.contains("showing 0ns to 400.000ms"), "the window is the link's");
    let (fewer, _) = chromium_at(&page, "#from=0s&to=400ms&hide=Append,Appended", &["--dump-dom"]);
    let (a, b) = (count(&all, "class=\"msg"), count(&fewer, "class=\"msg"));
    assert!(b < a && b > 0, "hiding Append and Appended leaves the votes: {a} then {b}");
    let (no_n1, _) = chromium_at(&page, "#from=0s&to=400ms&hide=n1", &["--dump-dom"]);
    assert!(count(&no_n1, "class=\"msg") < a, "hiding a node hides its messages");
}
