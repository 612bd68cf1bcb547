//! The agents' console (`GET /console` on control-handoff) and the customer's chat page
//! (`/_emulator/chat`) in a real browser: headless Chromium driven over WebDriver (Debian's
//! `chromium` and `chromium-driver`, which scripts/test installs: scripts/browser-deps), against the local
//! stack (moto, the emulator, the real function binaries behind the API Gateway front).
//! One customer, one agent, each in their own browser session; a screenshot of every step
//! goes to `target/console-browser/`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use local_stack::{local_config_path, Stack};
use routing_domain::OwnerRole;
use serde_json::{json, Value};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long one step may take (the console polls every 3 s).
const STEP: Duration = Duration::from_secs(45);

/// `chromedriver` on a free loopback port, in its own process group (it and the browsers
/// it starts are stopped together when the test ends, however it ends).
struct ChromeDriver {
    child: Child,
    url: String,
    profiles: PathBuf,
}

impl ChromeDriver {
    async fn start(out: &std::path::Path) -> Self {
        for program in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                std::path::Path::new(program).exists(),
                "{program} is missing: run scripts/browser-deps (it installs chromium and chromium-driver)"
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|probe| probe.local_addr())
            .expect("a free port")
            .port();
        let child = {
            use std::os::unix::process::CommandExt;
            Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .expect("chromedriver starts")
        };
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + STEP;
        loop {
            let ready = match http.get(format!("{url}/status")).send().await {
                Ok(answer) => answer
                    .json::<Value>()
                    .await
                    .is_ok_and(|status| status["value"]["ready"] == true),
                Err(_) => false,
            };
            if ready {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not get ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profiles = out.join(format!("profiles-{}", std::process::id()));
        ChromeDriver {
            child,
            url,
            profiles,
        }
    }

    /// A new browser with a fresh, empty profile. The flags keep Chromium from reaching out
    /// to the network (its background connections are refused on a closed network).
    async fn session(&self, name: &str) -> Client {
        let profile = self.profiles.join(name);
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile).expect("profile dir");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--window-size=1280,820",
                    format!("--user-data-dir={}", profile.display()),
                ]
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .unwrap_or_else(|err| panic!("a Chromium session ({name}): {err}"))
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profiles);
    }
}

/// Screenshots of the steps, numbered in order.
struct Steps {
    dir: PathBuf,
    taken: usize,
}

impl Steps {
    async fn shot(&mut self, client: &Client, name: &str) {
        self.taken += 1;
        let png = client.screenshot().await.expect("screenshot");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let path = self.dir.join(format!("{:02}-{name}.png", self.taken));
        std::fs::write(&path, png).expect("write the screenshot");
    }
}

/// Wait until the JavaScript expression `condition` is true in `client`'s page; on
/// timeout, fail with `what` and the page's text (and leave a screenshot).
async fn until(client: &Client, condition: &str, what: &str) {
    let script = format!("return !!({condition});");
    let deadline = Instant::now() + STEP;
    loop {
        let value = client.execute(&script, vec![]).await.expect("script runs");
        if value == Value::Bool(true) {
            return;
        }
        if Instant::now() > deadline {
            let text = client
                .execute("return document.body.innerText;", vec![])
                .await
                .unwrap_or_default();
            if let Ok(png) = client.screenshot().await {
                let _ = std::fs::write(out_dir().join("failed.png"), png);
            }
            panic!("timed out waiting for {what} ({condition}); the page shows:\n{text}");
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// The text content of the page's element `css` (it must exist; it may be on a tab that
/// is not shown).
async fn text_of(client: &Client, css: &str) -> String {
    let script = "const e = document.querySelector(arguments[0]); return e && e.textContent;";
    match client.execute(script, vec![json!(css)]).await {
        Ok(Value::String(text)) => text,
        other => panic!("{css}: no such element ({other:?})"),
    }
}

async fn click(client: &Client, css: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|err| panic!("{css}: {err}"))
        .click()
        .await
        .unwrap_or_else(|err| panic!("click {css}: {err}"));
}

async fn type_into(client: &Client, css: &str, text: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|err| panic!("{css}: {err}"))
        .send_keys(text)
        .await
        .unwrap_or_else(|err| panic!("type into {css}: {err}"));
}

fn out_dir() -> PathBuf {
    let dir = dynamo_local::workspace_root().join("target/console-browser");
    std::fs::create_dir_all(&dir).expect("target/console-browser");
    dir
}

/// From now on, record the console's POSTs (their path and `Idempotency-Key`).
async fn record_posts(client: &Client) {
    let script = r#"
        window.posts = [];
        if (!window.realFetch) window.realFetch = window.fetch;
        window.fetch = (url, options = {}) => {
            if (options.method === "POST") {
                window.posts.push({url: String(url), key: (options.headers || {})["Idempotency-Key"] || null});
            }
            return window.realFetch(url, options);
        };
        return true;"#;
    client
        .execute(script, vec![])
        .await
        .expect("record the POSTs");
}

/// The action since [`record_posts`] was exactly one POST, to a path ending in `path`,
/// with an `Idempotency-Key`.
async fn assert_one_keyed_post(client: &Client, path: &str) {
    let posts = client
        .execute("return window.posts;", vec![])
        .await
        .expect("the recorded POSTs");
    let posts = posts.as_array().expect("a list");
    assert_eq!(posts.len(), 1, "one API call: {posts:?}");
    assert!(
        posts[0]["url"]
            .as_str()
            .is_some_and(|url| url.ends_with(path)),
        "{posts:?}"
    );
    assert!(
        posts[0]["key"].as_str().is_some_and(|key| key.len() >= 32),
        "with an Idempotency-Key: {posts:?}"
    );
}

/// A JavaScript test that the chat page shows `text` as a message from the Page.
fn chat_shows(text: &str) -> String {
    format!(
        "[...document.querySelectorAll('#messages .msg.page')].some(m => m.textContent === {})",
        json!(text)
    )
}

/// A JavaScript test that the console's list `list` holds customer `psid` (with `more`
/// appended to the item's selector).
fn listed(list: &str, psid: &str, more: &str) -> String {
    format!("document.querySelector('#list-{list} li[data-psid=\"{psid}\"]{more}')")
}

/// Sam's API token (scoped, with an agent name), beside config/local.json's.
const SAM: &str = "sam-console-token-0123456789";

/// config/local.json with Sam's token added, written under target/.
fn config_with_sam() -> PathBuf {
    let mut config: Value = serde_json::from_str(
        &std::fs::read_to_string(local_config_path()).expect("config/local.json"),
    )
    .expect("JSON");
    config["api_tokens"]
        .as_array_mut()
        .expect("api_tokens")
        .push(json!({"token": SAM, "scope": "act", "agent_name": "Sam"}));
    let path = out_dir().join(format!("config-{}.json", std::process::id()));
    std::fs::write(&path, config.to_string()).expect("write the configuration");
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_asks_for_a_human_an_agent_answers_in_the_console_and_the_bot_takes_over_again()
{
    let s = Stack::start_hosted(&config_with_sam())
        .await
        .expect("local stack starts (run `cargo build --workspace --bins` first)");
    let out = out_dir();
    let driver = ChromeDriver::start(&out).await;
    let mut steps = Steps {
        dir: out.clone(),
        taken: 0,
    };
    let page = s.cast.page_id.clone();
    let u = "7301";
    let api = s.api_base.clone().expect("the gateway");
    let reply = "Hi, this is Sam from support. Your order left the warehouse today.";

    // The customer's Messenger, and the agent's console (signed in once).
    let customer = driver.session("customer").await;
    customer
        .goto(&format!(
            "{}/_emulator/chat?page={page}&psid={u}",
            s.emulator.base_url()
        ))
        .await
        .expect("the chat page");
    let agent = driver.session("agent").await;
    agent
        .goto(&format!("{api}/console"))
        .await
        .expect("the console");
    sign_in(&agent, SAM, &page).await;
    until(
        &agent,
        "!document.getElementById('app').hidden",
        "the inbox",
    )
    .await;
    assert_eq!(
        agent
            .execute("return sessionStorage.getItem('console.token');", vec![])
            .await
            .expect("script"),
        json!(SAM),
        "the token is kept in sessionStorage"
    );

    // The customer writes (the bot holds the conversation: a lock in the console)...
    type_into(&customer, "#text", "Hi! Where is my order #1042?").await;
    click(&customer, "#send").await;
    until(
        &agent,
        &listed("bot", u, ""),
        "the conversation in the bot's list",
    )
    .await;
    until(
        &agent,
        &listed("bot", u, " svg.lock"),
        "a lock on the bot's conversation",
    )
    .await;

    // ... and taps "Talk to human": the Page confirms, and it is unread in the inbox.
    click(&customer, "#buttons button[data-payload=\"TALK_TO_HUMAN\"]").await;
    until(
        &customer,
        &chat_shows("You're now chatting with a person."),
        "the handover's confirmation",
    )
    .await;
    steps.shot(&customer, "customer-taps-talk-to-human").await;
    until(
        &agent,
        &listed("inbox", u, ".unread"),
        "the conversation unread in the inbox",
    )
    .await;
    assert!(text_of(&agent, "#unread-inbox").await == "1 unread");
    steps.shot(&agent, "console-unread-in-inbox").await;

    // The agent opens it: the timeline says why it came (the button's title).
    click(&agent, &format!("#list-inbox li[data-psid=\"{u}\"]")).await;
    until(
        &agent,
        "[...document.querySelectorAll('#timeline .banner')].some(b => b.textContent.includes('passed to the inbox: Talk to human'))",
        "the handover banner with its cause",
    )
    .await;
    assert!(text_of(&agent, "#owner")
        .await
        .contains("the agents' inbox"));
    assert!(text_of(&agent, "#window-24h").await.contains("left"));
    // The Page's confirmation was the bot's: labelled so.
    let bot_answer = text_of(&agent, "#timeline .entry.bot").await;
    assert!(
        bot_answer.contains("You're now chatting with a person."),
        "{bot_answer}"
    );
    assert_eq!(
        text_of(&agent, "#timeline .entry.bot .label")
            .await
            .to_lowercase(),
        "bot"
    );

    // The agent replies: one API call, and the customer's Messenger shows it.
    type_into(&agent, "#reply-text", reply).await;
    record_posts(&agent).await;
    click(&agent, "#reply").await;
    until(
        &agent,
        &format!(
            "[...document.querySelectorAll('#timeline .entry.agent .text')].some(t => t.textContent === {})",
            json!(reply)
        ),
        "the agent's reply on the timeline",
    )
    .await;
    // Credited to the agent (Sam's token names them; the echo carries it).
    assert!(
        text_of(&agent, "#timeline .entry.agent .meta")
            .await
            .contains("Sam"),
        "the reply names its agent"
    );
    until(
        &agent,
        &listed("inbox", u, ":not(.unread)"),
        "the conversation read",
    )
    .await;
    steps.shot(&agent, "console-agent-replied").await;
    until(
        &customer,
        &chat_shows(reply),
        "the agent's reply in the customer's Messenger",
    )
    .await;
    steps.shot(&customer, "customer-sees-the-reply").await;

    // Mark as done: the conversation is in Done.
    assert_one_keyed_post(&agent, &format!("/conversations/{u}/messages")).await;
    record_posts(&agent).await;
    click(&agent, "#done").await;
    until(&agent, &listed("done", u, ""), "the conversation in Done").await;
    until(
        &agent,
        "!document.querySelector('#list-inbox li[data-psid=\"7301\"]')",
        "the conversation out of the inbox",
    )
    .await;
    assert_one_keyed_post(&agent, &format!("/conversations/{u}/control")).await;
    click(&agent, ".tabs button[data-tab=\"done\"]").await;
    until(
        &agent,
        "document.getElementById('notice').textContent.includes('Marked as done')",
        "the action's outcome",
    )
    .await;
    until(
        &agent,
        "[...document.querySelectorAll('#timeline .banner')].some(b => b.textContent.includes('inbox → idle: marked done by Sam'))",
        "the change of control credited to Sam",
    )
    .await;
    steps.shot(&agent, "console-done").await;

    // The customer's next message goes to the bot.
    type_into(&customer, "#text", "Thanks! One more question.").await;
    click(&customer, "#send").await;
    until(
        &agent,
        &listed("bot", u, ""),
        "the conversation back with the bot",
    )
    .await;
    until(
        &agent,
        "document.getElementById('owner').textContent.includes('the bot')",
        "the bot in control",
    )
    .await;
    click(&agent, ".tabs button[data-tab=\"bot\"]").await;
    steps
        .shot(&agent, "console-next-message-goes-to-the-bot")
        .await;

    let record = s
        .settled_record(u)
        .await
        .expect("the record agrees with Meta");
    assert_eq!(record.owner.role, OwnerRole::Bot);
    assert_eq!(
        s.true_owner(u).await.expect("Meta's owner").as_deref(),
        Some(s.cast.bot.id.as_str())
    );
    let sent = s
        .http
        .get(format!(
            "{}/_emulator/messages?psid={u}",
            s.emulator.base_url()
        ))
        .send()
        .await
        .expect("messages")
        .json::<Value>()
        .await
        .expect("json");
    let agent_sends = sent["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["text"] == reply)
        .count();
    assert_eq!(agent_sends, 1, "the reply reached the customer once");
    assert_eq!(steps.taken, 6);

    customer
        .close()
        .await
        .expect("close the customer's browser");
    agent.close().await.expect("close the agent's browser");
}

/// Sign in to the console at `api`/console with `token` for `page`.
async fn sign_in(agent: &Client, token: &str, page: &str) {
    until(
        agent,
        "!document.getElementById('login').hidden",
        "the sign-in form",
    )
    .await;
    for field in ["#token", "#page"] {
        let input = agent.find(Locator::Css(field)).await.expect(field);
        input.clear().await.expect("clear the field");
    }
    type_into(agent, "#token", token).await;
    type_into(agent, "#page", page).await;
    click(agent, "#sign-in").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_says_in_words_why_it_was_refused_and_what_a_re_sync_found() {
    let s = Stack::start_hosted(&local_config_path())
        .await
        .expect("local stack starts (run `cargo build --workspace --bins` first)");
    let driver = ChromeDriver::start(&out_dir()).await;
    let page = s.cast.page_id.clone();
    let api = s.api_base.clone().expect("the gateway");
    let u = "7302";
    s.customer_says(u, "Hello? I need a person.")
        .await
        .expect("customer");
    s.customer_taps(u, "Talk to human", "TALK_TO_HUMAN")
        .await
        .expect("tap");
    assert_eq!(
        s.settled_record(u).await.expect("record").owner.role,
        OwnerRole::Inbox
    );
    // A human answers in Meta's inbox and the echo is lost: the record still says inbox.
    s.set_true_owner(u, Some(routing_domain::PAGE_INBOX_APP_ID))
        .await
        .expect("Meta's inbox takes it");

    let agent = driver.session("agent-refused").await;
    agent
        .goto(&format!("{api}/console"))
        .await
        .expect("the console");
    // A wrong token: the sign-in form again, saying why.
    sign_in(&agent, "not-a-configured-token", &page).await;
    until(
        &agent,
        "document.getElementById('login-error').textContent.includes('forbidden (403)')",
        "the refused token in words",
    )
    .await;
    sign_in(&agent, &s.cast.api_token, &page).await;
    until(
        &agent,
        &listed("inbox", u, ""),
        "the conversation in the inbox",
    )
    .await;
    click(&agent, &format!("#list-inbox li[data-psid=\"{u}\"]")).await;
    until(
        &agent,
        "document.getElementById('owner') && document.getElementById('owner').textContent.includes(\"the agents' inbox\")",
        "the record's owner",
    )
    .await;

    // Return to bot: Meta refuses (the inbox no longer holds it); the console names the
    // owner, and the refusal's inline re-sync corrected the record.
    click(&agent, "#to-bot").await;
    until(
        &agent,
        "document.getElementById('notice').textContent.includes('Return to bot failed: not_owner (409): another app holds this conversation: Meta\\'s Page Inbox')",
        "Meta's refusal in words",
    )
    .await;
    until(
        &agent,
        "document.getElementById('owner').textContent.includes(\"Meta's Page Inbox\")",
        "the corrected owner",
    )
    .await;
    click(&agent, "#resync").await;
    until(
        &agent,
        "document.getElementById('resync-result').textContent.includes(\"Meta says: Meta's Page Inbox holds it; the record already agreed\")",
        "the re-sync's answer",
    )
    .await;
    let mut steps = Steps {
        dir: out_dir(),
        taken: 6,
    };
    steps.shot(&agent, "console-refusal-in-words").await;
    assert_eq!(
        s.record(u).await.expect("record").owner.role,
        OwnerRole::PageInbox
    );
    agent.close().await.expect("close the agent's browser");
}

/// `count` customer messages written straight into the conversation's timeline, after
/// everything on it, the last one the newest ("message 2100" of 2100).
async fn seed_messages(s: &Stack, psid: &str, count: usize) -> String {
    use routing_domain::transition::Transition;
    use routing_domain::{Author, Happening, TimelineEntry};
    use routing_usecases::ports::Store;
    use routing_usecases::records::write_of;
    let mut record = s.record(psid).await.expect("the record");
    let first = record.updated_at + 1;
    let text = |i: usize| format!("message {i:04} of {count}");
    let entries: Vec<TimelineEntry> = (1..=count)
        .map(|i| {
            let at = first + i as i64;
            let message = Happening::Message {
                author: Author::Customer,
                mid: Some(format!("m_seed_{i}")),
                app_id: None,
                text: Some(text(i)),
                payload: None,
                attachments: 0,
            };
            TimelineEntry::new(at, &format!("seed-{i}"), message)
        })
        .collect();
    for chunk in entries.chunks(90) {
        let mut state = record.clone();
        state.version += 1;
        let transition = Transition {
            expected_version: record.version,
            state: state.clone(),
            timeline: chunk.to_vec(),
        };
        let write = write_of(transition, Some(&record), 86_400, first);
        s.store.write(write).await.expect("seeded");
        record = state;
    }
    text(count)
}

/// A JavaScript test that the console's timeline shows a message whose text is `text`.
fn timeline_shows(text: &str) -> String {
    format!(
        "[...document.querySelectorAll('#timeline .entry .text')].some(t => t.textContent === {})",
        json!(text)
    )
}

/// The console's completed polls so far.
async fn polls(agent: &Client) -> u64 {
    let script = "return Number(document.getElementById('poll-state').dataset.polls || 0);";
    let value = agent.execute(script, vec![]).await.expect("polls");
    value.as_u64().expect("a count")
}

/// The tab hidden (`true`) or shown again, as the browser reports it to the page.
async fn set_hidden(agent: &Client, hidden: bool) {
    let script = "Object.defineProperty(document, 'hidden', {value: arguments[0], configurable: true});
        Object.defineProperty(document, 'visibilityState', {value: arguments[0] ? 'hidden' : 'visible', configurable: true});
        document.dispatchEvent(new Event('visibilitychange'));
        return true;";
    agent
        .execute(script, vec![json!(hidden)])
        .await
        .expect("visibility");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_conversation_opens_on_its_newest_messages_and_an_idle_console_polls_little() {
    let s = Stack::start_hosted(&config_with_sam())
        .await
        .expect("local stack starts (run `cargo build --workspace --bins` first)");
    let driver = ChromeDriver::start(&out_dir()).await;
    let page = s.cast.page_id.clone();
    let api = s.api_base.clone().expect("the gateway");
    let gateway = s.gateway.as_ref().expect("the gateway");
    let u = "7303";
    s.customer_says(u, "Hello, a long story follows.")
        .await
        .expect("customer");
    s.customer_taps(u, "Talk to human", "TALK_TO_HUMAN")
        .await
        .expect("tap");
    s.settled_record(u).await.expect("settled");
    let newest = seed_messages(&s, u, 2100).await;

    let agent = driver.session("agent-long").await;
    agent
        .goto(&format!("{api}/console"))
        .await
        .expect("the console");
    sign_in(&agent, SAM, &page).await;
    until(
        &agent,
        &listed("inbox", u, ""),
        "the conversation in the inbox",
    )
    .await;
    click(&agent, &format!("#list-inbox li[data-psid=\"{u}\"]")).await;
    until(
        &agent,
        &timeline_shows(&newest),
        "the newest of 2100 messages",
    )
    .await;
    assert!(text_of(&agent, "#timeline").await.contains(&newest));
    let shown = "document.querySelectorAll('#timeline .entry').length";
    let first_page = agent
        .execute(&format!("return {shown};"), vec![])
        .await
        .unwrap();
    // Older messages, a page at a time.
    click(&agent, "#older").await;
    until(
        &agent,
        &timeline_shows("message 1950 of 2100"),
        "the page of older messages",
    )
    .await;
    let more = agent
        .execute(&format!("return {shown};"), vec![])
        .await
        .unwrap();
    assert!(
        more.as_u64() > first_page.as_u64(),
        "{first_page} -> {more}"
    );

    // An idle console: each poll asks for the queue and the open conversation's state,
    // never its timeline again (nothing changed).
    let start = polls(&agent).await;
    until(
        &agent,
        &format!(
            "{} >= {}",
            "Number(document.getElementById('poll-state').dataset.polls || 0)",
            start + 1
        ),
        "a poll",
    )
    .await;
    let (from_polls, from_requests) = (polls(&agent).await, gateway.requests());
    until(
        &agent,
        &format!(
            "Number(document.getElementById('poll-state').dataset.polls || 0) >= {}",
            from_polls + 3
        ),
        "three more polls",
    )
    .await;
    let (to_polls, to_requests) = (polls(&agent).await, gateway.requests());
    let per_poll = (to_requests - from_requests) as f64 / (to_polls - from_polls) as f64;
    let poll_ms = agent
        .execute("return POLL_MS;", vec![])
        .await
        .unwrap()
        .as_f64()
        .unwrap();
    let per_minute = per_poll * 60_000.0 / poll_ms;
    println!(
        "idle console: {per_poll} requests per poll, one poll every {poll_ms} ms: {per_minute} requests per minute"
    );
    assert!(
        per_poll <= 6.0,
        "5 queue listings and the conversation: {per_poll}"
    );

    // Hidden, it asks for nothing; shown again, it polls again.
    set_hidden(&agent, true).await;
    let hidden_at = gateway.requests();
    agent
        .execute("window.waited = false; setTimeout(() => window.waited = true, 2 * POLL_MS + 1000); return true;", vec![])
        .await
        .unwrap();
    until(&agent, "window.waited", "two poll intervals").await;
    assert_eq!(gateway.requests(), hidden_at, "no request while hidden");
    let paused = polls(&agent).await;
    set_hidden(&agent, false).await;
    until(
        &agent,
        &format!("Number(document.getElementById('poll-state').dataset.polls || 0) > {paused}"),
        "a poll once shown",
    )
    .await;

    // A reply whose answer is a gateway's 502, 503 or 504, or nothing at all, is retried
    // with the same Idempotency-Key: sent once.
    keeps_its_key_after_a_gateway_failure(&s, &agent, u).await;
    agent.close().await.expect("close the agent's browser");
}

/// Each failure in turn answers the console's first POST (which never reaches the API);
/// the retry carries the same key and the reply is sent once.
async fn keeps_its_key_after_a_gateway_failure(s: &Stack, agent: &Client, u: &str) {
    let script = r#"
        window.posts = [];
        window.failure = arguments[0];
        if (!window.realFetch) window.realFetch = window.fetch;
        window.fetch = (url, options = {}) => {
            if (options.method !== "POST") return window.realFetch(url, options);
            window.posts.push((options.headers || {})["Idempotency-Key"] || null);
            const failure = window.failure;
            window.failure = null;
            if (failure === "none") return Promise.reject(new TypeError("Failed to fetch"));
            if (failure) return Promise.resolve(new Response('{"message":"Gateway failure"}', {status: failure}));
            return window.realFetch(url, options);
        };
        return true;"#;
    for (i, failure) in [json!(502), json!(503), json!(504), json!("none")]
        .into_iter()
        .enumerate()
    {
        let text = format!("Retried reply {i}");
        agent
            .execute(script, vec![failure.clone()])
            .await
            .expect("the failure");
        type_into(agent, "#reply-text", &text).await;
        click(agent, "#reply").await;
        until(
            agent,
            "document.getElementById('notice').textContent.includes('Reply failed')",
            "the failed reply",
        )
        .await;
        until(
            agent,
            "!document.getElementById('reply').disabled",
            "the reply button",
        )
        .await;
        click(agent, "#reply").await;
        until(agent, &timeline_shows(&text), "the retried reply").await;
        let posts = agent.execute("return window.posts;", vec![]).await.unwrap();
        let posts = posts.as_array().expect("keys");
        assert_eq!(posts.len(), 2, "{failure}: {posts:?}");
        assert!(
            posts[0].is_string() && posts[0] == posts[1],
            "{failure}: the same key {posts:?}"
        );
        let sent = s
            .http
            .get(format!(
                "{}/_emulator/messages?psid={u}",
                s.emulator.base_url()
            ))
            .send()
            .await
            .expect("messages")
            .json::<Value>()
            .await
            .expect("json");
        let copies = sent["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .filter(|m| m["text"] == text.as_str())
            .count();
        assert_eq!(copies, 1, "{failure}: sent once");
    }
}
