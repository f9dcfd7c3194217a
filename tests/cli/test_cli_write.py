"""The commands that change tasks and queues, each against a world of its own (conftest.py),
checked through the inspector and through the commands' own output."""

from __future__ import annotations

from cli_world import Cli, World, wait_for


def test_cli_changes_one_task_at_a_time(world: World, cli: Cli) -> None:
    ids = world.ids
    kill, enq, delete, cancel = cli.many(
        ("kill", ids["scheduled"]),                       # scheduled -> archived
        ("enq", ids["dead"], "--queue", "default"),       # archived -> pending (and the worker fails it again)
        ("del", ids["later"]),                            # retry -> gone
        ("cancel", ids["hang"]),                          # active -> cancelled, archived (max_retry=0)
    )
    assert kill.ok() == f"Task {ids['scheduled']} in queue 'default' is now archived\n"
    assert enq.ok() == f"Task {ids['dead']} in queue 'default' is now pending\n"
    assert delete.ok() == f"Deleted task {ids['later']} from queue 'default'\n"
    assert cancel.ok() == f"Asked the worker processing task {ids['hang']} (queue 'default') to cancel it\n"
    wait_for(lambda: world.inspector.get_task_info("default", ids["hang"]).state.value == "archived",
             "the cancelled task to be archived")
    assert "cancelled" in world.inspector.get_task_info("default", ids["hang"]).last_error
    wait_for(lambda: world.sizes() == {"pending": 0, "active": 0, "scheduled": 0, "retry": 0, "archived": 3,
                                       "completed": 1}, "dead to fail again")

    # The modern names, with --json: archived -> pending -> archived -> gone.
    waiting = ids["waiting1"]
    archive = cli("task", "archive", waiting, "--json").json()
    run = cli("task", "run", waiting, "-q", "critical", "--json").json()
    assert archive == {"id": waiting, "queue": "critical", "action": "archive", "state": "archived"}
    assert run == {"id": waiting, "queue": "critical", "action": "run", "state": "pending"}
    assert world.inspector.get_task_info("critical", waiting).state.value == "pending"
    assert cli("task", "delete", waiting).ok() == f"Deleted task {waiting} from queue 'critical'\n"
    assert [t.id for t in world.inspector.list_pending_tasks("critical")] == [ids["waiting2"]]

    # cancel is refused once the task is no longer active; the modern name says the same.
    line = cli("task", "cancel", ids["hang"], "--queue", "default").error()
    assert line == (f"asynq: error: cannot cancel task '{ids['hang']}' in queue 'default': it is archived "
                    "(only active tasks can be)")


def test_cli_changes_all_tasks_of_a_state(world: World, cli: Cli) -> None:
    # Queue critical is paused: what becomes pending there stays pending.
    cli("kill", world.ids["waiting1"]).ok()
    assert cli("enqall", "dead:critical").ok() == "1 archived tasks in queue 'critical' are now pending\n"
    assert cli("killall", "enqueued", "--queue", "critical").ok() == "Archived 2 pending tasks in queue 'critical'\n"
    assert cli("task", "runall", "archived:critical", "--json").json() == {
        "queue": "critical", "state": "archived", "action": "runall", "count": 2,
    }
    assert cli("task", "archiveall", "pending", "-q", "critical", "--json").json()["count"] == 2
    assert cli("delall", "archived:critical").ok() == "Deleted 2 archived tasks from queue 'critical'\n"
    assert world.sizes("critical") == dict.fromkeys(world.sizes("critical"), 0)

    # In queue default: nothing of the state is fine (0), the others move.
    results = cli.many(
        ("task", "deleteall", "completed", "--json"),
        ("task", "archiveall", "scheduled", "--json"),
        ("task", "archiveall", "pending", "--json"),
        ("task", "deleteall", "retry", "--json"),
    )
    assert [r.json()["count"] for r in results] == [1, 1, 0, 1]
    assert world.sizes() == {"pending": 0, "active": 1, "scheduled": 0, "retry": 0, "archived": 2, "completed": 0}


def test_cli_pauses_resumes_and_removes_queues(world: World, cli: Cli) -> None:
    assert cli("queue", "pause", "default", "critical").ok() == (
        "Queue 'default' paused\nQueue 'critical' was already paused\n"
    )
    assert world.inspector.get_queue_info("default").paused
    assert cli("queue", "resume", "critical", "--json").json() == [
        {"queue": "critical", "paused": False, "changed": True},
    ]
    # Resumed, but no worker serves it: its tasks stay pending.
    assert cli("queue", "resume", "default", "critical").ok() == (
        "Queue 'default' resumed\nQueue 'critical' was already resumed\n"
    )
    assert cli("rmq", "critical", "--force").ok() == "Removed queue 'critical'\n"
    assert world.inspector.queues() == ["default"]

    world.release.set()  # hang finishes: nothing is active any more
    wait_for(lambda: world.sizes()["active"] == 0, "the active task to finish")
    assert cli("queue", "remove", "default", "--force", "--json").json() == {"queue": "default", "removed": True}
    assert world.inspector.queues() == []
    assert cli("queue", "list").ok() == "No queues\n"
