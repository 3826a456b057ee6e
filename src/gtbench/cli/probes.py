"""``gtbench probes``: the probes `race --probes` runs in each region, on AWS Lambda."""

from __future__ import annotations

import click

from gtbench.cli.options import settings_from, target_options, yes_option
from gtbench.regions import AWS, Settings


@click.group("probes")
def probes_group() -> None:
    """Probes inside the regions on AWS Lambda, for `race --probes`: deploy, status, remove.

    One Lambda function per region times DynamoDB beside the replica, so `race
    --probes` bounds each lag without the client's round trips.

    \b
    What deploy makes (remove deletes it, only if tagged made-by=gtbench):
      IAM role gtbench-probe: dynamodb:GetItem, PutItem, UpdateItem on the
        table in each region, and its own CloudWatch Logs group; trusted by
        Lambda only;
      Lambda function gtbench-probe in each region (Python, gtbench's probe
        handler alone, 1,769 MB (one whole vCPU), no dependencies beyond the
        runtime's boto3).

    On the emulator the probes are local workers: nothing to deploy.
    """


def _aws_only(settings: Settings) -> bool:
    if settings.target != AWS:
        click.echo("on the emulator, `race --probes` runs its probes as local workers placed "
                   "in their regions: there is nothing to deploy (use --target aws)")
        return False
    return True


def _clients(settings: Settings
             ) -> tuple[object, str, str, dict[str, object], dict[str, object]]:
    from gtbench.cli.app import current_app
    from gtbench.cli.provision import connect

    regions, account = connect(settings, current_app().terminal())
    assert account is not None
    partition = regions.session.get_partition_for_region(settings.home)
    lambdas = {r: regions.service_client("lambda", r, attempts=3) for r in settings.regions}
    logs = {r: regions.service_client("logs", r, attempts=3) for r in settings.regions}
    return regions.any_client("iam"), account, partition, lambdas, logs


@probes_group.command("deploy")
@target_options
@yes_option
def deploy_command(target: str, endpoint_url: str | None, regions: tuple[str, ...],
                   table: str, profile: str | None, yes: bool) -> None:
    """Create or update the probe in each of --regions (idempotent)."""
    from gtbench.probes import deploy

    settings = settings_from(target, endpoint_url, regions, table, profile)
    if not _aws_only(settings):
        return
    iam, account, partition, lambdas, logs = _clients(settings)
    zipped = deploy.package()
    missing = [r for r, c in lambdas.items() if not deploy.state(c, r, zipped).exists]
    role = "exists" if deploy.role_arn(iam) else "will be created"
    if not yes:
        click.confirm(
            f"In AWS account {account}: IAM role {deploy.ROLE} ({role}; access to table "
            f"{table} in {', '.join(settings.regions)}), and Lambda function "
            f"{deploy.FUNCTION} created in {', '.join(missing) or 'no region'} and updated "
            f"elsewhere, its logs kept {deploy.LOG_RETENTION_DAYS} days. Invocations are "
            "billed per request and duration (see Cost in docs/aws.md). Continue?",
            abort=True, err=True)
    arn = deploy.ensure_role(iam, account, table, settings.regions, partition,
                             lambda m: click.echo(f"• {m}", err=True))
    for region, client in lambdas.items():
        deploy.deploy_one(client, region, arn, zipped, lambda m: click.echo(f"• {m}", err=True))
        deploy.keep_logs_short(logs[region], region, lambda m: click.echo(f"• {m}", err=True))
    click.echo(f"probes ready in {', '.join(settings.regions)}: run `gtbench race --target aws "
               "--probes`")


@probes_group.command("status")
@target_options
def status_command(target: str, endpoint_url: str | None, regions: tuple[str, ...],
                   table: str, profile: str | None) -> None:
    """Show the probe in each region: present, ready, current code, made by gtbench."""
    from gtbench.probes import deploy

    settings = settings_from(target, endpoint_url, regions, table, profile)
    if not _aws_only(settings):
        return
    iam, _, _, lambdas, _ = _clients(settings)
    zipped = deploy.package()
    click.echo(f"IAM role {deploy.ROLE}: "
               + ("present" if deploy.role_arn(iam) else "absent"))
    for region, client in lambdas.items():
        found = deploy.state(client, region, zipped)
        click.echo(f"{region}: " + ("absent" if not found.exists else
                                    f"{found.state}, "
                                    + ("current code" if found.current else "older code: "
                                       "run `gtbench probes deploy`")
                                    + ("" if found.ours else ", not made by gtbench")))


@probes_group.command("remove")
@target_options
@yes_option
def remove_command(target: str, endpoint_url: str | None, regions: tuple[str, ...],
                   table: str, profile: str | None, yes: bool) -> None:
    """Delete the probes in --regions and the IAM role: only what gtbench tagged."""
    from gtbench.probes import deploy

    settings = settings_from(target, endpoint_url, regions, table, profile)
    if not _aws_only(settings):
        return
    iam, account, _, lambdas, logs = _clients(settings)
    if not yes:
        click.confirm(f"Delete Lambda function {deploy.FUNCTION} and its log group in "
                      f"{', '.join(settings.regions)} and IAM role {deploy.ROLE}, in AWS "
                      f"account {account} (only if gtbench made them)?", abort=True, err=True)
    say = lambda m: click.echo(f"• {m}", err=True)  # noqa: E731 - one line, used often
    removed = [r for r, c in lambdas.items() if deploy.remove_one(c, r, say)]
    for region in removed:
        deploy.remove_logs(logs[region], region, say)
    deploy.remove_role(iam, say)
    click.echo(f"removed the probes in {', '.join(removed) or 'no region'}")
