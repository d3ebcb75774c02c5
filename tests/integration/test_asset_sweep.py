"""The asset sweeper: expired files go (their rows marked deleted), and files no live row describes —
what a crash between writing an output and committing its row leaves — go once they are old enough."""

from __future__ import annotations

import dataclasses
import io
import os
import time
from datetime import timedelta

from PIL import Image
from sqlalchemy import select

from mediagate.domain.media import MediaType
from mediagate.gateway import Gateway
from mediagate.services.assets import INSERT_ASSET, AssetRow
from mediagate.store import prepared
from mediagate.store.tables import Asset
from mediagate.store.types import utcnow
from tests.helpers import make_principal


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 200, 30)).save(buffer, "PNG")
    return buffer.getvalue()


async def stored(gateway: Gateway, account_id: str, *, row: bool = True, expired: bool = False) -> AssetRow:
    _, asset = await gateway.assets.save(
        png(), account_id=account_id, task_id=None, kind="output", media_type=MediaType.IMAGE
    )
    if expired:
        asset = dataclasses.replace(asset, expires_at=utcnow() - timedelta(minutes=1))
    if row:
        async with gateway.db.write(core=True) as session:
            await prepared.execute(session, INSERT_ASSET, asset.values())
    return asset


def age(gateway: Gateway, asset: AssetRow, seconds: float) -> None:
    path = gateway.assets.root / asset.path
    then = time.time() - seconds
    os.utime(path, (then, then))


async def test_expired_files_are_removed_and_their_rows_marked(gateway: Gateway) -> None:
    principal, _ = await make_principal(gateway)
    old = await stored(gateway, principal.account_id, expired=True)
    live = await stored(gateway, principal.account_id)
    await gateway.assets.sweep()
    assert not (gateway.assets.root / old.path).exists()
    assert (gateway.assets.root / live.path).exists()
    async with gateway.db.read() as session:
        deleted = dict((await session.execute(select(Asset.id, Asset.deleted_at))).all())
    assert deleted[old.id] is not None and deleted[live.id] is None


async def test_files_without_a_live_row_are_removed_once_old(gateway: Gateway) -> None:
    principal, _ = await make_principal(gateway)
    orphan = await stored(gateway, principal.account_id, row=False)  # a crash before its row committed
    young_orphan = await stored(gateway, principal.account_id, row=False)  # its row may be committing now
    kept = await stored(gateway, principal.account_id)
    for asset in (orphan, kept):
        age(gateway, asset, 2 * 3600)
    assert await gateway.assets.sweep_orphans() == 1
    assert not (gateway.assets.root / orphan.path).exists()
    assert (gateway.assets.root / young_orphan.path).exists()
    assert (gateway.assets.root / kept.path).exists()
    # a file whose row says deleted is an orphan too (an expiry sweep that stopped halfway)
    async with gateway.db.write() as session:
        row = await session.get(Asset, kept.id)
        assert row is not None
        row.deleted_at = utcnow()
    assert await gateway.assets.sweep_orphans() == 1
    assert not (gateway.assets.root / kept.path).exists()


async def test_the_first_sweep_of_a_process_looks_for_orphans(gateway: Gateway) -> None:
    """A restart after a crash looks at once (and then every `ORPHAN_SWEEP_EVERY`-th sweep)."""
    principal, _ = await make_principal(gateway)
    orphan = await stored(gateway, principal.account_id, row=False)
    age(gateway, orphan, 2 * 3600)
    fresh = Gateway(gateway.settings)  # a new process on the same data
    assert await fresh.assets.sweep() == 1
    assert not (gateway.assets.root / orphan.path).exists()
    await fresh.db.close()
