"""finance-sim — a stand-in for the city's 财政预算管理一体化系统 (finance budget system).

It settles payment instructions idempotently by key, keeps them in SQLite across
restarts and can be told to misbehave (`/_sim/faults`) so the payment service's
handling of outages, rejections, timeouts and lost responses can be tested.
"""
