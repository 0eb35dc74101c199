"""All settings of the service, read once from environment variables.

Every default runs the embedded mode: a SQLite file in the user's data
directory, Celery in eager mode (no broker needed) and the packaged
all-MiniLM-L6-v2 model. Production sets the variables listed in
``config/.env.example``. Nothing else in the code reads ``os.environ``.
"""

from __future__ import annotations

from pathlib import Path

from platformdirs import user_data_dir
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_database_url() -> str:
    data_dir = Path(user_data_dir("monitor", appauthor=False))
    data_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{data_dir / 'monitor.db'}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    # Stores and broker
    database_url: str = Field(default_factory=default_database_url)
    celery_broker_url: str = "redis://127.0.0.1:6379/0"
    celery_always_eager: bool = True

    # Embedding
    embedding_model: str = "all-MiniLM-L6-v2"
    embedding_device: str = "cpu"
    embed_batch_size: int = Field(default=64, ge=1)

    # Clustering
    # A post joins the cluster of a stored post when the embedding cosine passes and
    # so does either the character-shingle Jaccard or containment (docs/clustering.md).
    cluster_min_cosine: float = Field(default=0.5, ge=-1, le=1)
    cluster_min_jaccard: float = Field(default=0.3, ge=0, le=1)
    cluster_min_containment: float = Field(default=0.6, ge=0, le=1)
    cluster_neighbours: int = Field(default=20, ge=1)

    # Alerts
    alert_min_posts: int = Field(default=5, ge=1)
    alert_min_sources: int = Field(default=3, ge=1)
    alert_window_hours: float = Field(default=24.0, gt=0)

    # News feeds
    feed_interval_seconds: int = Field(default=900, ge=30)
    feed_poll_seconds: float = Field(default=60, gt=0)  # how often beat looks for due feeds
    feed_max_failures: int = Field(default=5, ge=1)  # consecutive failures before pausing
    feed_max_backoff_seconds: int = Field(default=6 * 3600, ge=60)
    domain_min_interval_seconds: float = Field(default=2.0, ge=0)
    http_connect_timeout: float = Field(default=5.0, gt=0)
    http_read_timeout: float = Field(default=15.0, gt=0)
    http_max_bytes: int = Field(default=5_000_000, ge=1024)
    http_max_redirects: int = Field(default=5, ge=0)
    http_user_agent: str = "monitor/0.1 (claim monitoring; +https://github.com/monitor-project/monitor)"

    # Webhooks
    public_base_url: str = "http://127.0.0.1:8000"  # links in webhook payloads point here
    webhook_timeout_seconds: float = Field(default=5.0, gt=0)
    webhook_max_attempts: int = Field(default=12, ge=1)
    webhook_backoff_seconds: float = Field(default=10.0, ge=0)
    webhook_max_backoff_seconds: float = Field(default=3600.0, ge=0)
    webhook_disable_after_failures: int = Field(default=5, ge=1)
    webhook_retry_poll_seconds: float = Field(default=15.0, gt=0)
    # Addresses webhooks may reach although private or loopback: comma-separated IPs or CIDRs.
    webhook_allowed_addresses: str = ""

    # Web
    web_host: str = "127.0.0.1"
    web_port: int = 8000
    secret_key: str = "change-me-in-production"

    # Log level of the `monitor` command and the web app (workers take celery's --loglevel).
    log_level: str = "INFO"


def load_settings(**overrides) -> Settings:
    """Read the environment once; keyword overrides win (used by tests and the CLI)."""
    return Settings(**overrides)
