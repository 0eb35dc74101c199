"""All settings of the service, read once from environment variables.

Every default runs the embedded mode: a SQLite file in the user's data
directory, Celery in eager mode (no broker needed) and the packaged
all-MiniLM-L6-v2 model. Production sets the variables listed in
``config/.env.example``. Nothing else in the code reads ``os.environ``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from platformdirs import user_data_dir
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def data_directory() -> Path:
    """The user's data directory of the embedded mode (the SQLite store, the demo's secret key)."""
    data_dir = Path(user_data_dir("monitor", appauthor=False))
    data_dir.mkdir(parents=True, exist_ok=True)
    return data_dir


def default_database_url() -> str:
    return f"sqlite:///{data_directory() / 'monitor.db'}"


class Settings(BaseSettings):
    # An empty variable (TELEGRAM_API_ID= in an env file) means "not set": the default.
    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True, env_ignore_empty=True)

    # Stores and broker
    database_url: str = Field(default_factory=default_database_url)
    celery_broker_url: str = "redis://127.0.0.1:6379/0"
    celery_always_eager: bool = True

    # Embedding
    embedding_model: str = "all-MiniLM-L6-v2"
    # Where `monitor models download` keeps models; EMBEDDING_MODEL is looked up there first.
    embedding_model_dir: str | None = None
    # auto: CUDA when torch sees a GPU, else the CPU; or name one (cpu, cuda, cuda:1).
    embedding_device: str = "auto"
    # What runs the model: auto is OpenVINO on a CPU and PyTorch on a GPU; or torch, openvino.
    embedding_backend: Literal["auto", "torch", "openvino"] = "auto"
    embed_batch_size: int = Field(default=64, ge=1)  # posts per embed task, its own and waiting ones
    # Texts per forward pass of the model; 0: 2 on one CPU thread, 8 on more, 1024 on a GPU.
    encode_batch_size: int = Field(default=0, ge=0)
    # Processes tokenizing batches ahead of the model; unset: three in four cores on a GPU,
    # shared among EMBED_PROCESSES (none under two each), none on a CPU.
    encode_tokenizer_processes: int | None = Field(default=None, ge=0)
    # Threads doing so where no processes do; unset: 1 on a GPU, none on a CPU.
    encode_tokenizer_threads: int | None = Field(default=None, ge=0)
    # Processes of the embed worker (`monitor run`); 0: one per core on a CPU, one on a GPU.
    embed_processes: int = Field(default=0, ge=0)
    # Threads the model runs on in each process, on a CPU; 0: torch's default, every core.
    # `monitor run` sets it to the cores over EMBED_PROCESSES unless it is set here.
    encode_threads: int = Field(default=0, ge=0)

    # Clustering
    # A post joins the cluster of a stored post when their calibrated same-claim
    # probability passes the threshold; both come from this file, written by
    # `monitor calibrate` (docs/quality.md). Unset: the packaged config/matching.json.
    matching_calibration: str | None = None
    cluster_neighbours: int = Field(default=20, ge=1)

    # Alerts
    alert_min_posts: int = Field(default=5, ge=1)
    alert_min_sources: int = Field(default=3, ge=1)
    alert_window_hours: float = Field(default=24.0, gt=0)
    # The coordination interval: the spread rule counts the posts and sources of the busiest
    # stretch this long (many channels within minutes; not outlets retelling a story over hours).
    alert_coordination_minutes: float = Field(default=60.0, gt=0)
    # Sources that posted the same claim within the interval in this many earlier clusters (in
    # the last ALERT_HABIT_DAYS) count as one actor: a network's everyday reposting (0: off).
    alert_habitual_coposts: int = Field(default=3, ge=0)
    alert_habit_days: float = Field(default=30.0, gt=0)
    alert_growth_window_hours: float = Field(default=1.0, gt=0)
    alert_growth_factor: float = Field(default=3.0, gt=1)
    alert_reach_min_views: int = Field(default=50_000, ge=1)
    alert_known_claim_min_overlap: float = Field(default=0.5, gt=0, le=1)
    alert_reopen_factor: float = Field(default=2.0, ge=1)
    # More call-to-action word stems (comma-separated) on top of the built-in ru/kk/en list.
    alert_call_to_action_words: str = ""
    alert_weight_spread: float = Field(default=1.0, ge=0)
    alert_weight_growth: float = Field(default=2.0, ge=0)
    alert_weight_reach: float = Field(default=2.0, ge=0)
    alert_weight_novelty: float = Field(default=1.0, ge=0)
    alert_weight_known_claim: float = Field(default=20.0, ge=0)
    alert_weight_impersonation: float = Field(default=25.0, ge=0)
    alert_weight_topic: float = Field(default=3.0, ge=0)
    # Recycled media (monitor/media/stage.py): a video opens an alert; a photo (news reuse file
    # photos all the time) only adds its points.
    alert_weight_recycled_media: float = Field(default=10.0, ge=0)

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

    # The sweep (beat): posts and alert events stuck in a stage longer than this are sent again.
    sweep_interval_seconds: float = Field(default=300.0, gt=0)
    sweep_older_than_seconds: float = Field(default=900.0, gt=0)

    # Telegram (monitor telegram): api id and hash from https://my.telegram.org, and the
    # session string made by `monitor telegram login`, given inline or in a secret file.
    telegram_api_id: int | None = None
    telegram_api_hash: str | None = None
    telegram_session: str | None = None
    telegram_session_file: str | None = None
    # First catch-up of a new channel: the last N messages if set, else the last D days.
    telegram_backfill_messages: int | None = Field(default=None, ge=1)
    telegram_backfill_days: float = Field(default=7.0, gt=0)
    telegram_catch_up_seconds: float = Field(default=300.0, gt=0)
    # After a restart, each channel's newest messages are read again for edits and deletions.
    telegram_recheck_messages: int = Field(default=500, ge=0)
    telegram_recheck_hours: float = Field(default=48.0, gt=0)
    telegram_page_size: int = Field(default=100, ge=1, le=100)
    # A FloodWait up to this long is waited out; a longer one reschedules the channel.
    telegram_flood_wait_cap_seconds: float = Field(default=300.0, ge=0)
    # All requests of the process together, at most this many per second.
    telegram_requests_per_second: float = Field(default=1.0, gt=0)

    # Feeds and article pages at internal addresses (normally refused, as SSRF): comma-separated IPs or CIDRs.
    fetch_allowed_addresses: str = ""

    # Media (monitor/media/): photos and videos of posts, fingerprinted with PDQ and vPDQ.
    # Files are kept content-addressed under MEDIA_DIR (unset: "media" in the data directory),
    # for MEDIA_RETENTION_DAYS; their hashes are kept for good.
    media_dir: str | None = None
    # The cluster worker's index holds the posts placed in the last days (0: all of them), the
    # representatives of clusters of several posts, and the posts of clusters with an open alert.
    cluster_index_days: float = Field(default=30.0, ge=0)
    # "Find similar" scans the stored vectors of this many posts placed before that window,
    # the most recent first (0: none); each million takes about 16 s on PostgreSQL.
    similar_scan_posts: int = Field(default=500_000, ge=0)
    # The cluster worker's index snapshots (monitor/cluster/snapshot.py): none kept when unset.
    cluster_snapshot_dir: str | None = None
    cluster_snapshot_minutes: float = Field(default=10.0, ge=0)
    media_max_bytes: int = Field(default=50_000_000, ge=1024)  # above it, a video's thumbnail only
    media_retention_days: float = Field(default=90.0, gt=0)
    media_seconds_per_hash: float = Field(default=1.0, gt=0)  # vPDQ: a frame hashed this often
    # The hashing subprocess is killed past these (a hostile file must not take a worker down).
    media_hash_timeout_seconds: float = Field(default=120.0, gt=0)
    media_hash_memory_mb: int = Field(default=2048, ge=256)
    media_max_pixels: int = Field(default=50_000_000, ge=1)  # larger images are refused, unopened
    # Same media (monitor/media/matching.py): images whose PDQ hashes are within this Hamming
    # distance; videos with this share of each one's frames within the frame distance of the other's.
    media_match_distance: int = Field(default=31, ge=0, le=256)
    media_video_frame_distance: int = Field(default=63, ge=0, le=256)
    media_video_match_share: float = Field(default=0.2, gt=0, le=1)
    # Media first posted longer ago than this, under a caption of another claim, is recycled
    # footage: a cluster of its own, linked to the first, with an alert reason. Within it,
    # re-uploads of the same clip are one wave whatever their captions.
    media_recycled_after_days: float = Field(default=90.0, gt=0)

    # Known claims: the organisation named as the reviewer in the ClaimReview of a confirmed
    # alert (GET /api/v1/alerts/ID/claimreview).
    claimreview_publisher: str = "Claim monitor"

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
    # Signs session cookies and CSRF tokens: a random value of at least 32 characters. The web
    # app refuses to start without one; `monitor demo` makes one and keeps it in its data directory.
    secret_key: str | None = None
    # Send cookies over HTTPS only: true wherever the UI is served over TLS.
    session_cookie_secure: bool = False
    # How many reverse proxies stand in front of the app. Only then are X-Forwarded-For and
    # -Proto believed (that many hops of them): without a proxy they are whatever a client sent.
    web_proxy_hops: int = Field(default=0, ge=0)
    session_hours: float = Field(default=12.0, gt=0)
    # Sign-in throttling within the window: failures allowed for one name from one address, and
    # from one address in all. An account itself is never locked (that would be a weapon).
    login_max_failures_per_name: int = Field(default=5, ge=1)
    login_max_failures_per_address: int = Field(default=20, ge=1)
    login_failure_window_minutes: float = Field(default=15.0, gt=0)

    # Logs of every process: level, and format (text for people, json for a log pipeline).
    log_level: str = "INFO"
    # The level of the `monitor` commands that answer and exit (`-v` raises it for one run);
    # the services, the listener and `monitor serve` log at LOG_LEVEL.
    monitor_log_level: str = "WARNING"
    log_format: Literal["text", "json"] = "text"
    # Workers serve their Prometheus metrics on this port (0: not served). With several
    # worker processes, PROMETHEUS_MULTIPROC_DIR must name an empty writable directory.
    worker_metrics_port: int = Field(default=0, ge=0)
    # /metrics of the web app answers only `Authorization: Bearer <METRICS_TOKEN>`; unset, it
    # answers 401 to everyone (workers' metrics ports are for the internal network only).
    metrics_token: str | None = None


def load_settings(**overrides) -> Settings:
    """Read the environment once; keyword overrides win (used by tests and the CLI)."""
    return Settings(**overrides)
