"""`mediagate admin …`: accounts, keys, credits and plans, straight against the database."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from mediagate.domain.media import KeyMode
from mediagate.errors import MediagateError

T = TypeVar("T")


def run(work: Callable[[Any], Awaitable[T]]) -> T:
    """Open the gateway (migrations only, no workers), run `work(gateway)`, close it."""
    from mediagate.config import Settings
    from mediagate.gateway import Gateway

    async def go() -> T:
        gateway = Gateway(Settings())
        await gateway.start(workers=False)
        try:
            return await work(gateway)
        finally:
            await gateway.stop()

    try:
        return asyncio.run(go())
    except MediagateError as exc:
        raise click.ClickException(f"{exc.code.value}: {exc.message}") from exc


@click.group()
def admin() -> None:
    """Manage accounts, API keys, plans and credits (operators only)."""


@admin.command("create-account")
@click.option("--name", required=True)
@click.option("--plan", default=None, help="free | starter | pro | enterprise | a configured plan")
@click.option("--credits", default=0, type=int)
def create_account(name: str, plan: str | None, credits: int) -> None:
    """Create an account; prints its id."""
    account = run(lambda g: g.accounts.create_account(name, plan, credits))
    click.echo(account.id)


@admin.command("create-key")
@click.option("--account", "account_id", required=True)
@click.option("--test", is_flag=True, help="A test-mode key: every output comes from the sandbox provider.")
@click.option("--name", default=None)
def create_key(account_id: str, test: bool, name: str | None) -> None:
    """Create an API key; prints it (shown once, stored only as a hash)."""
    raw, _ = run(lambda g: g.accounts.create_key(account_id, KeyMode.TEST if test else KeyMode.LIVE, name))
    click.echo(raw)


@admin.command("revoke-key")
@click.argument("key_id")
def revoke_key(key_id: str) -> None:
    """Revoke a key by its id (see list-keys)."""
    key = run(lambda g: g.accounts.revoke_key(key_id))
    click.echo(f"revoked {key.display}")


@admin.command("list-keys")
@click.option("--account", "account_id", required=True)
def list_keys(account_id: str) -> None:
    for key in run(lambda g: g.accounts.list_keys(account_id)):
        state = "revoked" if key.revoked_at else "active"
        click.echo(f"{key.id}  {key.display}  {key.mode}  {state}  {key.name or ''}")


@admin.command("add-credits")
@click.option("--account", "account_id", required=True)
@click.option("--amount", required=True, type=int)
@click.option("--note", default=None)
def add_credits(account_id: str, amount: int, note: str | None) -> None:
    """Top up (or, negative, remove) credits."""
    account = run(lambda g: g.accounts.add_credits(account_id, amount, note))
    click.echo(f"balance: {account.balance}  reserved: {account.reserved}")


@admin.command("set-plan")
@click.option("--account", "account_id", required=True)
@click.option("--plan", required=True)
def set_plan(account_id: str, plan: str) -> None:
    account = run(lambda g: g.accounts.set_plan(account_id, plan))
    click.echo(f"{account.id} is on plan {account.plan}")


@admin.command("list-accounts")
def list_accounts() -> None:
    for account in run(lambda g: g.accounts.list_accounts()):
        click.echo(
            f"{account.id}  {account.name}  plan={account.plan}  balance={account.balance}  reserved={account.reserved}"
        )


@admin.command("ledger")
@click.option("--account", "account_id", required=True)
@click.option("--limit", default=50, type=int)
def ledger(account_id: str, limit: int) -> None:
    for entry in run(lambda g: g.accounts.ledger(account_id, limit)):
        click.echo(json.dumps(entry))


@admin.command("usage")
@click.option("--account", "account_id", required=True)
@click.option("--days", default=30, type=int)
def usage(account_id: str, days: int) -> None:
    """Credits spent per model and per day."""
    click.echo(json.dumps(run(lambda g: g.accounts.usage(account_id, days)), indent=2))


@admin.command("redeliver")
@click.argument("message_id")
def redeliver(message_id: str) -> None:
    """Queue a webhook message for delivery again (see GET /api/v1/tasks/{id}/deliveries)."""
    run(lambda g: g.webhooks.redeliver(message_id))
    click.echo(f"queued {message_id}")


@admin.command("quickstart")
@click.option("--name", default="me")
@click.option("--credits", default=1000, type=int)
def quickstart(name: str, credits: int) -> None:
    """Create an account with credits, a live key and a test key, and print how to use them."""

    async def work(g: Any) -> tuple[str, str, str]:
        account = await g.accounts.create_account(name, "pro", credits)
        live, _ = await g.accounts.create_key(account.id, KeyMode.LIVE, "quickstart")
        test, _ = await g.accounts.create_key(account.id, KeyMode.TEST, "quickstart")
        return account.id, live, test

    account_id, live, test = run(work)
    from mediagate.config import Settings

    base = Settings().base_url
    click.echo(f"account:  {account_id}  (plan pro, {credits} credits)")
    click.echo(f"live key: {live}")
    click.echo(f"test key: {test}   (sandbox outputs, same prices and limits)")
    click.echo("")
    click.echo("try it:")
    click.echo(
        f"  curl -s -X POST {base}/api/v1/generations -H 'Authorization: Bearer {test}' "
        "-H 'Content-Type: application/json' "
        '-d \'{"model": "seedance 2.0", "prompt": "a field of daisies", "duration": 5}\''
    )
