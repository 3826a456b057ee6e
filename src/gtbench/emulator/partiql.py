"""PartiQL writes on replicated tables. moto alone knows which items a statement
touched, so they are found by comparing the region's replicated tables before and after
it; on MRSC tables PartiQL writes are refused (transactions as AWS refuses them, the
rest because the emulator cannot tell their items before they run)."""

from __future__ import annotations

import re
from typing import Any

from gtbench.emulator import store
from gtbench.emulator.backend import Backend
from gtbench.emulator.replication import item_key
from gtbench.emulator.requests import Call, Touched, statements
from gtbench.emulator.wire import Environ, Reply, call_app, error_reply


def refusal(backend: Backend, call: Call) -> Reply | None:
    """The refusal of a PartiQL write naming an MRSC table, or None."""
    text = " ".join(statements(call.payload))
    for name in backend.replicas.replicated_tables(call.account, call.region):
        if backend.replicas.strong(call.account, name) is None:
            continue
        if re.search(rf'(?<![\w.-]){re.escape(name)}(?![\w.-])', text):
            if call.op == "ExecuteTransaction":
                return error_reply("ValidationException", "Transactions are not "
                                   "supported on multi-Region strongly consistent tables")
            return error_reply(
                "ValidationException",
                f"the gtbench emulator does not model PartiQL writes to the multi-Region "
                f"strongly consistent table {name}; use PutItem, UpdateItem, DeleteItem "
                "or BatchWriteItem")
    return None


def write(backend: Backend, call: Call, forwarded: Environ) -> Reply:
    """Run a PartiQL write and replicate every item it changed."""
    with backend.locks.hold(call.account, call.region):
        before = _images(backend, call)
        reply = call_app(backend.moto, forwarded)
        if reply.status != 200:
            return reply
        after = _images(backend, call)
        touched: Touched = []
        for name in set(before) | set(after):
            old, new = before.get(name, {}), after.get(name, {})
            for ident in set(old) | set(new):
                was, now = old.get(ident), new.get(ident)
                entry = now or was
                if entry is not None and (was and was[1]) != (now and now[1]):
                    touched.append((name, entry[0]))
        backend.replicate(call, touched)
    return reply


def _images(backend: Backend, call: Call) -> dict[str, dict[Any, tuple[Any, Any]]]:
    """Every replicated table's items in the caller's region: ident -> (key, image)."""
    out: dict[str, dict[Any, tuple[Any, Any]]] = {}
    for name in backend.replicas.replicated_tables(call.account, call.region):
        table = store.find_table(call.account, call.region, name)
        if table is None:
            continue
        names = store.key_names(table)
        out[name] = {item_key(image, names): (store.key_of(table, image), image)
                     for image in store.all_images(table)}
    return out
