"""The policy sandbox: etcd, kube-apiserver and the Gatekeeper manager on loopback, with one
stack installed, so admission is judged by the real engines (README: "Policy sandbox").

    pki.py        the throw-away CA and certificates
    processes.py  process groups: start, wait until ready, stop; log tails on failure
    client.py     a small API client (server-side apply, dry-run create, impersonation)
    stack.py      what a stack installs: objects in order, CRDs, Gatekeeper's release values
    state.py      the state directory and how later commands find it
    cluster.py    bring a sandbox up (and down)
    cli.py        `python -m tools.sandbox up|apply|status|down`
"""
