"""Which proxy the environment names for a URL (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY), for messages
and for the URL guard; the HTTP clients themselves read the same variables (httpx's trust_env).
"""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True, slots=True)
class Proxy:
    variable: str  # the environment variable that names it, e.g. "HTTPS_PROXY"
    address: str  # host:port only: a proxy URL may carry a user name and password

    def __str__(self) -> str:
        return f"the proxy at {self.address} ({self.variable})"


def proxy_for(url: str) -> Proxy | None:
    """The proxy a request to `url` goes through by the environment, or None when it goes direct."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    proxies = urllib.request.getproxies()
    scheme = parts.scheme if proxies.get(parts.scheme) else "all"
    named = proxies.get(scheme)
    if not named:
        return None
    host = parts.hostname
    if urllib.request.proxy_bypass(f"[{host}]" if ":" in host else host):
        return None
    proxy = urlsplit(named if "://" in named else f"http://{named}")
    address = proxy.netloc.rpartition("@")[2] or "an address that cannot be read"
    return Proxy(variable=f"{scheme.upper()}_PROXY", address=address)
