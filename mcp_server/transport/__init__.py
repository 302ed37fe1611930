"""How clients reach the server: stdio (a client starts us) or Streamable HTTP (systemd)."""
