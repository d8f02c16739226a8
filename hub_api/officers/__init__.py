"""Officer registry API: officer lookup, electronic-certificate tokens (電子亮證) and public verification (掃碼查證)."""
