//! Sending one email through an SMTP relay (RFC 5321: `EHLO`, `MAIL FROM`, `RCPT TO`, `DATA`,
//! `QUIT`), plain and unauthenticated: the relay is the operator's own (a local MTA that does
//! the rest). Lines are CRLF-terminated and dot-stuffed; addresses were checked when the
//! subscription was made.

use sluice_service::notifications::EmailDelivery;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Reads one (possibly multi-line) reply; its code.
async fn reply<R: tokio::io::AsyncBufRead + Unpin>(reader: &mut R) -> Result<u16, String> {
    loop {
        let mut line = String::new();
        let n = reader
            .read_line(&mut line)
            .await
            .map_err(|e| format!("reading the relay's reply: {e}"))?;
        if n == 0 {
            return Err("the relay closed the connection".into());
        }
        let code: u16 = line
            .get(..3)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| format!("the relay answered {line:?}"))?;
        // "250-…" continues, "250 …" ends.
        if line.as_bytes().get(3) != Some(&b'-') {
            return Ok(code);
        }
    }
}

async fn command<S>(stream: &mut BufReader<S>, line: &str, want: u16) -> Result<(), String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    stream
        .get_mut()
        .write_all(format!("{line}\r\n").as_bytes())
        .await
        .map_err(|e| format!("writing to the relay: {e}"))?;
    let code = reply(stream).await?;
    if code != want {
        let verb = line.split(':').next().unwrap_or(line);
        return Err(format!("the relay answered {code} to {verb}"));
    }
    Ok(())
}

/// The message: headers, a blank line, the dot-stuffed text.
fn message(from: &str, email: &EmailDelivery) -> String {
    let sender = if email.sender_name.is_empty() {
        from.to_string()
    } else {
        format!(
            "\"{}\" <{from}>",
            email.sender_name.replace(['"', '\r', '\n'], "")
        )
    };
    let subject: String = email.subject.chars().filter(|c| !c.is_control()).collect();
    let mut out = format!(
        "From: {sender}\r\nTo: {}\r\nSubject: {subject}\r\nMessage-ID: <{}@sluice>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
        email.to, email.message_id
    );
    for line in email.text.replace("\r\n", "\n").split('\n') {
        if line.starts_with('.') {
            out.push('.');
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out
}

/// Sends `email` from `from` through `relay` (`host:port`).
pub(crate) async fn send(relay: &str, from: &str, email: &EmailDelivery) -> Result<(), String> {
    let stream = tokio::net::TcpStream::connect(relay)
        .await
        .map_err(|e| format!("connecting to the SMTP relay {relay}: {e}"))?;
    let mut stream = BufReader::new(stream);
    if reply(&mut stream).await? != 220 {
        return Err("the relay did not greet".into());
    }
    command(&mut stream, "EHLO sluice", 250).await?;
    command(&mut stream, &format!("MAIL FROM:<{from}>"), 250).await?;
    command(&mut stream, &format!("RCPT TO:<{}>", email.to), 250).await?;
    command(&mut stream, "DATA", 354).await?;
    let body = message(from, email);
    command(&mut stream, &format!("{body}."), 250).await?;
    // The message is accepted; a failed goodbye changes nothing.
    let _ = command(&mut stream, "QUIT", 221).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_has_its_headers_and_dot_stuffed_crlf_lines() {
        let email = EmailDelivery {
            to: "ops@example.com".into(),
            sender_name: "Release \"bot\"".into(),
            subject: "Approve\r\nBcc: x".into(),
            text: "line one\n.hidden\nend".into(),
            message_id: "m1".into(),
        };
        let text = message("sluice@example.com", &email);
        assert!(text
            .starts_with("From: \"Release bot\" <sluice@example.com>\r\nTo: ops@example.com\r\n"));
        assert!(
            text.contains("Subject: ApproveBcc: x\r\n"),
            "no header can be injected: {text}"
        );
        assert!(text.ends_with("\r\n\r\nline one\r\n..hidden\r\nend\r\n"));
    }
}
