"""The production deployment checklist as pytest-testinfra assertions, runnable against any host.

    python -m provisioning.checklist --hosts=ssh://root@server [--data key=value ...]
    pytest provisioning/checklist --hosts=ssh://NAME --ssh-config=FILE --junitxml=report.xml

Expected values come from what the deploy recorded on the host (/etc/cognitive-memory/
deployed.json, else provisioning/defaults.yml), overridden with --data.
"""
