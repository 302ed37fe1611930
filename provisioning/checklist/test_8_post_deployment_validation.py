"""Post-deployment validation: the server answers over HTTP with its token, and only with it."""

from __future__ import annotations

from provisioning.checklist.support import app_python, call_tool, http_url, journal


def test_the_server_answers_ping_over_http_with_its_token(host, expected):
    result = call_tool(host, expected, "production", "ping", {}, http=True)
    assert result.get("status") == "ok", (result, journal(host))
    assert result.get("environment") == "production"
    assert result.get("database_reachable") is True


def test_the_server_refuses_a_request_without_the_token(host, expected):
    code = (
        "import urllib.request, urllib.error\n"
        f"request = urllib.request.Request({http_url(expected)!r}, data=b'{{}}', method='POST',"
        " headers={'Content-Type': 'application/json'})\n"
        "try:\n    urllib.request.urlopen(request, timeout=10); print(200)\n"
        "except urllib.error.HTTPError as error:\n    print(error.code)\n"
    )
    result = host.run(app_python(expected, "production", code))
    assert result.stdout.strip() == "401", result.stdout + result.stderr
