"""Storage: connections, the embedded cluster, migrations, cost log. Knows no domain."""
