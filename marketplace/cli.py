"""flask commands: seed-demo, create-territory, map-domain, suspend-territory, ..."""
from __future__ import annotations

import click
from flask import Flask, current_app
from sqlalchemy import select

from marketplace.extensions import db
from marketplace.models import Membership, Territory, User
from marketplace.services import DomainError, invitations, territories
from tenants.scoping import territory_scope, unscoped


def _territory(slug: str) -> Territory:
    territory = db.session.execute(select(Territory).where(Territory.slug == slug)).scalar_one_or_none()
    if territory is None:
        raise click.ClickException(f"no territory with slug {slug!r}")
    return territory


def _fail(exc: DomainError):
    raise click.ClickException(str(exc.message))


CLEANUP_INTERVAL_SECONDS = 60
# Expired welfare credits go back to their employers at minute 17 of every hour.
RELEASE_CREDITS_CRON = "17 * * * *"
# Satisfaction-survey invitations (recent deliveries, ended bookings) at minute 41 of every hour.
SURVEY_INVITATIONS_CRON = "41 * * * *"


def cron_scheduler(connection, app=None):
    """An RQ cron scheduler with the periodic jobs registered: ``cleanup_everywhere``
    every minute and ``release_expired_credits_everywhere`` hourly, on the default queue
    (a worker runs them); ``invite_to_surveys_everywhere`` hourly as well."""
    from rq.cron import CronScheduler

    from marketplace.jobs import cleanup_everywhere, invite_to_surveys_everywhere, release_expired_credits_everywhere
    from marketplace.queue import queue_name

    scheduler = CronScheduler(connection=connection)
    scheduler.register(cleanup_everywhere, queue_name("default", app),
                       interval=CLEANUP_INTERVAL_SECONDS, job_timeout=300)
    scheduler.register(release_expired_credits_everywhere, queue_name("default", app),
                       cron=RELEASE_CREDITS_CRON, job_timeout=600)
    scheduler.register(invite_to_surveys_everywhere, queue_name("default", app),
                       cron=SURVEY_INVITATIONS_CRON, job_timeout=1800)
    return scheduler


def register_cli(app: Flask) -> None:
    @app.cli.command("seed-demo")
    @click.option("--force", is_flag=True, help="Run even in production (MARKETPLACE_ENV=production).")
    def seed_demo_command(force):
        """Load the demo territories, cooperatives and users (idempotent). Refused in
        production unless --force: the demo's accounts share one published password."""
        from marketplace.demo import DEMO_PASSWORD, seed_demo

        if current_app.config["ENV_NAME"] == "production" and not force:
            raise click.ClickException(
                "seed-demo creates accounts (a platform operator among them) whose password "
                "is published: it does not run in production. Set MARKETPLACE_ENV=development "
                "(make run does), or pass --force if this really is a demonstration site.")

        logins = seed_demo()
        click.echo("Demo logins (password: %s):" % DEMO_PASSWORD)
        for email, role in logins:
            click.echo(f"  {email:<32} {role}")

    @app.cli.command("create-territory")
    @click.argument("slug")
    @click.argument("name")
    @click.option("--contact-email", required=True)
    @click.option("--language", default="it", type=click.Choice(["it", "en"]))
    @click.option("--color", default="#0066cc")
    def create_territory_command(slug, name, contact_email, language, color):
        """Create a territory answering at /t/SLUG/."""
        try:
            territory = territories.create_territory(slug, name, contact_email, language, color)
        except DomainError as exc:
            _fail(exc)
        db.session.commit()
        click.echo(f"created territory {territory.slug} (id {territory.id})")

    @app.cli.command("map-domain")
    @click.argument("slug")
    @click.argument("hostname")
    def map_domain_command(slug, hostname):
        """Serve territory SLUG on HOSTNAME."""
        try:
            domain = territories.map_domain(_territory(slug), hostname)
        except DomainError as exc:
            _fail(exc)
        db.session.commit()
        click.echo(f"{domain.hostname} -> {slug}")

    @app.cli.command("suspend-territory")
    @click.argument("slug")
    @click.option("--reactivate", is_flag=True, help="Bring a suspended territory back online.")
    def suspend_territory_command(slug, reactivate):
        """Take a territory offline (data kept), or back online with --reactivate."""
        territory = _territory(slug)
        (territories.reactivate if reactivate else territories.suspend)(territory)
        db.session.commit()
        click.echo(f"{slug}: {territory.status}")

    @app.cli.command("invite-coordinator")
    @click.argument("slug")
    @click.argument("email")
    def invite_coordinator_command(slug, email):
        """E-mail EMAIL an invitation to coordinate territory SLUG."""
        territory = _territory(slug)
        try:
            with territory_scope(territory.id):
                invitations.invite(territory, email, Membership.COORDINATOR)
        except DomainError as exc:
            _fail(exc)
        db.session.commit()
        click.echo(f"invitation sent to {email} (see the outbox when no SMTP is configured)")

    @app.cli.command("create-admin")
    @click.argument("email")
    @click.password_option()
    def create_admin_command(email, password):
        """Create a platform operator (or promote an existing account)."""
        from marketplace.services.accounts import find_user_by_email, password_problem, register

        user = find_user_by_email(email)
        if user is None:
            problem = password_problem(password, email)
            if problem:
                raise click.ClickException(str(problem))
            user = register(email, password, confirmed=True)
        user.is_platform_admin = True
        db.session.commit()
        click.echo(f"{user.email} is a platform operator")

    @app.cli.command("worker")
    @click.argument("queues", nargs=-1)
    @click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
    def worker_command(queues, burst):
        """Run an RQ worker on the named queues (default: all)."""
        from rq import SimpleWorker

        from marketplace.queue import QUEUES, get_queue, redis_connection

        if not current_app.config.get("REDIS_URL"):
            raise click.ClickException("REDIS_URL is not set: jobs run inline, no worker needed")
        names = queues or QUEUES
        worker = SimpleWorker([get_queue(n) for n in names], connection=redis_connection())
        worker.work(burst=burst, with_scheduler=False)

    @app.cli.command("cron")
    @click.option("--once", is_flag=True, help="Enqueue the jobs that are due, then stop.")
    def cron_command(once):
        """Run the scheduler of periodic jobs (clean-up of expired holds and waiting-list
        offers, every minute; release of expired welfare credits and satisfaction-survey
        invitations, hourly); a worker executes them."""
        from marketplace.queue import redis_connection

        if not current_app.config.get("REDIS_URL"):
            raise click.ClickException("REDIS_URL is not set: no scheduler without Redis "
                                       "(expired holds are still ignored when seats are counted)")
        scheduler = cron_scheduler(redis_connection())
        for cron_job in scheduler.get_jobs():
            when = f"every {cron_job.interval} seconds" if cron_job.interval else f"at cron {cron_job.cron!r}"
            click.echo(f"registered {cron_job.func_name} on {cron_job.queue_name} {when}")
        if once:
            for cron_job in scheduler.enqueue_jobs():
                click.echo(f"enqueued {cron_job.func_name}")
            return
        scheduler.start()
