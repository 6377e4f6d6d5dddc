"""gateway — the platform's one front door: versioned REST under /v1 for departments,
the enterprise front ends (亲清在线、郑好办) and operators."""
