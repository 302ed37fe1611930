"""A throwaway Debian 13 host on this machine (python -m provisioning.testhost up).

    python -m provisioning.testhost up --name try
    COGMEM_TESTHOST=try pyinfra -y inventory/local_testhost.py provisioning/deploy.py

COGMEM_TESTHOST names the host (default: the only one running). Settings not given here come
from provisioning/defaults.yml; this inventory picks the demo's: the `hashing` embedder (no API
key needed) and the CA certificates this machine trusts (for a TLS-intercepting proxy).
"""

from provisioning.inventories import demo_data, testhost_entry

hosts = [testhost_entry(extra=demo_data())]
