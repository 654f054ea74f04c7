//! One stdio MCP server process: spawned in its own process group, newline-delimited JSON on
//! stdin/stdout, stderr copied to the log under the server's name, and killed as a whole group.

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{ChildStdin, Command};
use tokio::sync::mpsc;

use super::config::ServerSpec;

/// Lines of stderr kept for error messages about a child that failed.
const STDERR_TAIL: usize = 5;
/// Longest stdout line accepted from a child (bigger messages are dropped with a warning).
const MAX_LINE: usize = 16 * 1024 * 1024;

/// What a child reports to its owner.
#[derive(Debug)]
pub enum ChildEvent {
    /// A JSON-RPC message on stdout.
    Message(Value),
    /// The process ended (exit code when it exited normally).
    Exited(Option<i32>),
}

/// A running child process.
pub struct Child {
    /// Process id (also the process-group id).
    pub pid: u32,
    stdin: tokio::sync::Mutex<ChildStdin>,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
    exit: tokio::sync::watch::Receiver<Option<String>>,
}

/// How a process ended, for messages.
pub fn describe_exit(code: Option<i32>) -> String {
    code.map_or("killed by a signal".to_owned(), |c| {
        format!("exit status {c}")
    })
}

impl Child {
    /// Spawns the server; its messages and its exit arrive on `events`.
    pub fn spawn(
        name: &str,
        spec: &ServerSpec,
        events: mpsc::UnboundedSender<ChildEvent>,
    ) -> std::io::Result<Child> {
        let mut cmd = Command::new(&spec.command);
        cmd.args(&spec.args)
            .envs(&spec.env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .process_group(0);
        if let Some(dir) = &spec.cwd {
            cmd.current_dir(dir);
        }
        // The allocator (mimalloc with `no_thp`) turns transparent huge pages off for the gateway,
        // and that setting survives fork and exec; the child gets the system's default back.
        #[cfg(target_os = "linux")]
        // SAFETY: the closure only calls prctl(2), which is async-signal-safe and touches no memory.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_THP_DISABLE, 0, 0, 0, 0);
                Ok(())
            });
        }
        let mut child = cmd.spawn()?;
        let pid = child.id().unwrap_or(0);
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| std::io::Error::other("no stdin"))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| std::io::Error::other("no stdout"))?;
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| std::io::Error::other("no stderr"))?;
        let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));

        let tail = stderr_tail.clone();
        let server = name.to_owned();
        let (exit_tx, exit) = tokio::sync::watch::channel(None);
        let stderr_task = tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::info!(target: "mcp_edge::stdio", server = %server, pid, "{line}");
                if let Ok(mut t) = tail.lock() {
                    if t.len() == STDERR_TAIL {
                        t.pop_front();
                    }
                    t.push_back(line);
                }
            }
        });

        let server = name.to_owned();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout);
            let mut line = Vec::new();
            loop {
                line.clear();
                match (&mut reader)
                    .take(MAX_LINE as u64 + 1)
                    .read_until(b'\n', &mut line)
                    .await
                {
                    Ok(0) | Err(_) => break,
                    Ok(_) if line.len() > MAX_LINE => {
                        tracing::warn!(server = %server, "dropped a stdout line over {MAX_LINE} bytes");
                        // Skip the rest of the oversized line.
                        let mut rest = Vec::new();
                        if reader.read_until(b'\n', &mut rest).await.is_err() {
                            break;
                        }
                    }
                    Ok(_) => {
                        let text = line.trim_ascii();
                        if text.is_empty() {
                            continue;
                        }
                        match serde_json::from_slice::<Value>(text) {
                            Ok(v) if v.is_object() => {
                                if events.send(ChildEvent::Message(v)).is_err() {
                                    break;
                                }
                            }
                            _ => tracing::warn!(
                                server = %server,
                                "ignored a stdout line that is not a JSON-RPC message: {}",
                                String::from_utf8_lossy(&text[..text.len().min(200)])
                            ),
                        }
                    }
                }
            }
            let code = child.wait().await.ok().and_then(|s| s.code());
            // Let the last stderr lines land first (bounded: a grandchild may hold stderr open).
            let _ = tokio::time::timeout(std::time::Duration::from_secs(1), stderr_task).await;
            let _ = exit_tx.send(Some(describe_exit(code)));
            let _ = events.send(ChildEvent::Exited(code));
        });

        Ok(Child {
            pid,
            stdin: tokio::sync::Mutex::new(stdin),
            stderr_tail,
            exit,
        })
    }

    /// How the process ended, waiting at most `wait` for it to end.
    pub async fn exit_status(&self, wait: std::time::Duration) -> Option<String> {
        let mut rx = self.exit.clone();
        let ended = tokio::time::timeout(wait, rx.wait_for(Option::is_some)).await;
        match ended {
            Ok(Ok(v)) => v.clone(),
            _ => None,
        }
    }

    /// Writes one message as a line on the child's stdin.
    pub async fn send(&self, message: &Value) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(message).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut stdin = self.stdin.lock().await;
        stdin.write_all(&line).await?;
        stdin.flush().await
    }

    /// The last lines the child wrote to stderr, joined for an error message.
    pub fn stderr_tail(&self) -> String {
        self.stderr_tail
            .lock()
            .map(|t| t.iter().cloned().collect::<Vec<_>>().join(" | "))
            .unwrap_or_default()
    }

    /// Kills the child's whole process group (wrappers like `npx` start grandchildren).
    pub fn kill(&self) {
        if self.pid > 0 {
            // SAFETY: kill(2) with a negative pid signals the process group we created for the child;
            // it has no memory-safety preconditions.
            unsafe {
                libc::kill(-(self.pid as libc::pid_t), libc::SIGKILL);
            }
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.kill();
    }
}
