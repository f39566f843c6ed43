"""The real-API-server tier (`make e2e`): every stack judged by the real API server, Gatekeeper and PSA."""
