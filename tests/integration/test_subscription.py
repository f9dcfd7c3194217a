"""A broker's subscription is live when ``subscribe()`` returns, on a real Redis.

Redis may run a SUBSCRIBE after a PUBLISH that another connection sent later, so a
subscription that did not wait for Redis's confirmation could miss the first wake-up.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
import redis

from asynq.brokers import open_broker
from asynq.brokers.base import Subscription
from asynq.brokers.redis import keys
from brokers import RedisServer

PAUSE_MS = 3000


def test_subscribe_returns_only_once_redis_has_confirmed_both_channels(
    fresh_redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker, _ = open_broker(fresh_redis_server.url)
    r = redis.Redis.from_url(fresh_redis_server.url)
    send_command = redis.connection.Connection.send_command

    def pause_redis_then_send(conn: Any, *args: Any, **kwargs: Any) -> None:
        # While every client is paused Redis runs no command, so it cannot confirm this
        # SUBSCRIBE until the pause ends: a subscribe() that waits for the confirmation cannot
        # return before then; one that does not returns at once.
        if args[:1] == ("SUBSCRIBE",):
            r.client_pause(PAUSE_MS, all=True)
        send_command(conn, *args, **kwargs)

    monkeypatch.setattr(redis.connection.Connection, "send_command", pause_redis_then_send)
    subscriptions: list[Subscription] = []
    returned = threading.Event()

    def subscribe() -> None:
        subscriptions.append(broker.subscribe())
        returned.set()

    thread = threading.Thread(target=subscribe)
    thread.start()
    assert not returned.wait(0.5), "subscribe() returned before Redis ran the SUBSCRIBE"
    thread.join(timeout=PAUSE_MS / 1000 + 10)
    assert returned.is_set()
    counts = dict(r.pubsub_numsub(keys.WAKEUP_CHANNEL, keys.CANCEL_CHANNEL))
    assert counts == {keys.WAKEUP_CHANNEL.encode(): 1, keys.CANCEL_CHANNEL.encode(): 1}
    subscriptions[0].close()
    broker.close()
    r.close()

