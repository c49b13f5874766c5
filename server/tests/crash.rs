//! `kill -9` during a burst of saves, then a restart, 20 times: every save the server
//! acknowledged is there and intact, and the database opens cleanly each time.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Starts `blastradius serve` on a free port with `data_dir`; returns it and its address.
fn start(data_dir: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_blastradius"))
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--dist",
            "/nonexistent",
            "--data-dir",
        ])
        .arg(data_dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line
        .trim()
        .rsplit("http://")
        .next()
        .expect("the server prints its address")
        .to_string();
    (child, address)
}

/// One HTTP/1.1 request; the status code and body, or `None` if the connection failed.
fn request(address: &str, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(address).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(body.as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let status = answer.split_whitespace().nth(1)?.parse().ok()?;
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((status, body))
}

#[test]
fn acknowledged_saves_survive_kill_9() {
    let dir = std::env::temp_dir().join(format!("blastradius-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let topology = simulator::templates::build("mesh", Some(12), 1)
        .unwrap()
        .to_json_pretty();
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut checked = 0;
    for round in 0..20 {
        let (mut server, address) = start(&dir);
        // What the last round acknowledged before its kill is there, intact (the final
        // list below checks every round's).
        let latest: Vec<String> = acknowledged.lock().unwrap()[checked..].to_vec();
        checked += latest.len();
        for name in &latest {
            let (status, body) = request(&address, "GET", &format!("/api/topologies/{name}"), "")
                .expect("the restarted server answers");
            assert_eq!(status, 200, "round {round}: '{name}' lost: {body}");
            let saved = simulator::Topology::from_json(&body).expect("intact");
            assert_eq!(&saved.name, name);
        }
        let writers: Vec<_> = (0..4)
            .map(|writer| {
                let (address, topology, acknowledged) =
                    (address.clone(), topology.clone(), acknowledged.clone());
                std::thread::spawn(move || {
                    for i in 0.. {
                        let name = format!("r{round}-w{writer}-{i}");
                        let path = format!("/api/topologies/{name}");
                        match request(&address, "PUT", &path, &topology) {
                            Some((201, _)) => acknowledged.lock().unwrap().push(name),
                            Some((status, body)) => panic!("save refused: {status} {body}"),
                            None => break, // the server is gone
                        }
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(100 + 7 * round));
        server.kill().expect("SIGKILL"); // kill -9, mid-burst
        server.wait().unwrap();
        for writer in writers {
            writer.join().expect("writers end when the server dies");
        }
    }
    let (mut server, address) = start(&dir);
    let (status, list) = request(&address, "GET", "/api/topologies", "").unwrap();
    assert_eq!(status, 200);
    let listed: Vec<serde_json::Value> = serde_json::from_str(&list).unwrap();
    let acknowledged = acknowledged.lock().unwrap();
    assert!(acknowledged.len() > 20, "the bursts saved something");
    // Saves in flight at the kill may be there without an acknowledgement, never the reverse.
    let on_disk: std::collections::HashSet<&str> =
        listed.iter().filter_map(|t| t["name"].as_str()).collect();
    for name in acknowledged.iter() {
        assert!(on_disk.contains(name.as_str()), "'{name}' lost");
    }
    eprintln!(
        "20 kill -9 rounds: {} saves acknowledged, {} on disk",
        acknowledged.len(),
        listed.len()
    );
    server.kill().unwrap();
    server.wait().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
