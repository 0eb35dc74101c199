"""The media stage in the pipeline (eager, as `monitor demo` runs it), on SQLite and
PostgreSQL: one clip in edited variants under unrelated captions across channels is one
cluster, a silent repost joins it, old footage under another claim is linked and alerted,
and hostile files are recorded errors on posts that are kept."""

from __future__ import annotations

import asyncio
import json
import subprocess
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from cli.ingest import import_file
from monitor.db.models import Alert, ClusterLink, ClusterMembership, MediaFile, Post, PostMedia, Source
from tests.media_files import OTHER_CLIPS, clip_variants, make_video, png_claiming

CAPTIONS = [  # unrelated to each other, in Russian, Kazakh and English
    "Погода в Алматы на выходные: дожди и похолодание",
    "Курс тенге укрепился к доллару на торгах в среду",
    "Жаңа мектеп Шымкентте ашылды, оқушылар қуанышты",
    "Football: Kairat beat Astana 2-1 in a late comeback",
    "В Астане открылась выставка современного искусства",
    "Fuel prices unchanged at petrol stations this week",
    "Министр здравоохранения рассказал о вакцинации",
    "Traffic jams on the ring road after the snowfall",
]
OTHER_CAPTIONS = ["Фестиваль уличной еды пройдёт в Караганде", "Ice hockey: Barys lose at home to Avangard",
                  "Көктемгі егіс жұмыстары басталды"]


def write_posts(path, posts: list[dict]) -> None:
    path.write_text("".join(json.dumps(post, ensure_ascii=False) + "\n" for post in posts))


def post(channel: str, number: int, text: str, media: list[str], when: datetime) -> dict:
    return {"source": channel, "id": number, "text": text, "media": media, "date": when.isoformat()}


def clusters_of(database, external_ids) -> dict[str, int]:
    with database.session() as session:
        rows = session.execute(select(Post.external_id, ClusterMembership.cluster_id)
                               .join(ClusterMembership, ClusterMembership.post_id == Post.id)).all()
    return {external_id: cluster_id for external_id, cluster_id in rows if external_id in external_ids}


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    variants = clip_variants(folder)
    others = {name: make_video(folder / f"{name}.mp4", source) for name, source in OTHER_CLIPS.items()}
    return variants, others


def test_one_clip_in_variants_under_unrelated_captions_across_channels_is_one_cluster(
        database, eager_pipeline, clips, tmp_path):
    variants, others = clips
    start = datetime(2025, 5, 6, 9, tzinfo=timezone.utc)
    posts = [post(f"channel_{index % 3}", 100 + index, CAPTIONS[index], [str(path)],
                  start + timedelta(minutes=7 * index)) for index, path in enumerate(variants.values())]
    posts += [post("channel_1", 200 + index, OTHER_CAPTIONS[index], [str(path)],
                   start + timedelta(minutes=5 * index + 2)) for index, path in enumerate(others.values())]
    posts.append(post("channel_2", 300, "🔥", [str(variants["logo"])], start + timedelta(hours=2)))
    posts.append(post("channel_0", 301, "", [str(variants["sepia"])], start + timedelta(hours=3)))
    write_posts(tmp_path / "posts.jsonl", posts)
    imported = import_file(eager_pipeline.conf.monitor_settings, tmp_path / "posts.jsonl")
    assert imported.problems == [] and imported.sent == len(posts)

    clip_ids = [str(100 + index) for index in range(len(variants))] + ["300", "301"]
    other_ids = [str(200 + index) for index in range(len(others))]
    placed = clusters_of(database, clip_ids + other_ids)
    assert set(placed) == set(clip_ids + other_ids)  # the silent reposts too
    assert len({placed[external_id] for external_id in clip_ids}) == 1
    assert len({placed[external_id] for external_id in other_ids}) == len(other_ids)
    assert placed[clip_ids[0]] not in {placed[external_id] for external_id in other_ids}
    with database.session() as session:
        assert {link.status for link in session.scalars(select(PostMedia))} == {"hashed"}
        media = session.scalars(select(MediaFile)).all()
        assert len(media) == len(variants) + len(others)
        assert all(file.kind == "video" and len(file.frames) >= 5 for file in media)


def test_old_footage_under_another_claim_is_its_own_cluster_linked_with_an_alert(
        database, eager_pipeline, clips, tmp_path):
    variants, _ = clips
    first = datetime(2024, 3, 1, 12, tzinfo=timezone.utc)
    write_posts(tmp_path / "posts.jsonl", [
        post("archive", 1, "Учения спасателей на Медеу: отработка эвакуации при сходе лавины",
             [str(variants["original"])], first),
        post("fresh", 2, "Срочно: в Алматы прямо сейчас разгоняют митинг, видео с места событий",
             [str(variants["greyscale"])], first + timedelta(days=400)),
    ])
    import_file(eager_pipeline.conf.monitor_settings, tmp_path / "posts.jsonl")
    placed = clusters_of(database, ["1", "2"])
    assert placed["1"] != placed["2"]
    with database.session() as session:
        link = session.scalar(select(ClusterLink))
        assert (link.cluster_id, link.linked_cluster_id) == (placed["2"], placed["1"])
        alert = session.scalar(select(Alert).where(Alert.cluster_id == placed["2"]))
        assert alert is not None
        assert any(reason.startswith("recycled media: first seen 2024-03-01 in archive under another claim")
                   for reason in alert.reasons)


def test_hostile_files_are_recorded_on_their_posts_and_everything_else_goes_on(
        database, eager_pipeline, clips, tmp_path, settings):
    variants, _ = clips
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(variants["original"].read_bytes()[:20_000])
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    bomb = png_claiming(tmp_path / "bomb.png", 30_000, 30_000)
    when = datetime(2025, 5, 6, 9, tzinfo=timezone.utc)
    write_posts(tmp_path / "posts.jsonl", [
        post("hostile", 1, "Сломанное видео о погоде", [str(truncated)], when),
        post("hostile", 2, "Пустой файл", [str(empty)], when),
        post("hostile", 3, "Огромная картинка", [str(bomb)], when),
        post("hostile", 4, "Нормальное видео рядом с битыми", [str(variants["small"])], when),
        post("hostile", 5, "Файла нет на диске", ["missing/clip.mp4"], when),
    ])
    imported = import_file(settings, tmp_path / "posts.jsonl")
    assert imported.sent == 5 and imported.media_absent == 1
    with database.session() as session:
        outcome = {external_id: (status, error) for external_id, status, error in session.execute(
            select(Post.external_id, PostMedia.status, PostMedia.error).join(PostMedia))}
        assert session.scalar(select(Post.id).where(Post.external_id == "5")) is not None
    assert outcome["1"][0] == "failed"
    assert "corrupt or truncated" in outcome["1"][1] or "readable video" in outcome["1"][1]
    assert outcome["2"] == ("failed", "empty file (0 bytes)")
    assert outcome["3"][0] == "failed" and "decompression bomb" in outcome["3"][1]
    assert outcome["4"] == ("hashed", None)
    assert "5" not in outcome


def test_telegram_channels_posting_the_clip_under_other_captions_meet_in_one_cluster(
        database, eager_pipeline, clips, tmp_path):
    """The listener downloads each video through Telethon (the stand-in serves real bytes),
    a thumbnail only for one over MEDIA_MAX_BYTES, and stores a post whose download fails
    without its media; the media stage joins the clip's posts across channels."""
    from monitor.media.files import MediaStore
    from monitor.telegram.channels import add_channel
    from monitor.telegram.listener import ChannelListener, ListenerPolicy
    from tests import telegram_standin as tg
    from workers.tasks import embed_posts_task, hash_media_task

    variants, others = clips
    still = tmp_path / "still.jpg"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(variants["sepia"]), "-frames:v", "1", str(still)],
                   check=True)
    client = tg.StandInTelegram(files={701: variants["original"], 702: variants["greyscale"],
                                       703: variants["letterboxed"], 704: others["life"],
                                       705: variants["sepia"]},
                                thumbnails={705: still})
    names = {1_101: "kanal_a", 1_102: "kanal_b", 1_103: "kanal_c"}
    client.add(tg.channel(1_101, "kanal_a", "Канал А"), [
        tg.message(1_101, 1, CAPTIONS[0], media=tg.video(701)),
        tg.message(1_101, 2, OTHER_CAPTIONS[0], media=tg.video(704))])
    client.add(tg.channel(1_102, "kanal_b", "Канал Б"), [
        tg.message(1_102, 1, CAPTIONS[3], media=tg.video(702)),
        tg.message(1_102, 2, "смотрите", media=tg.video(706))])  # its file reference expired
    client.add(tg.channel(1_103, "kanal_c", "Канал В"), [
        tg.message(1_103, 1, CAPTIONS[5], media=tg.video(703)),
        tg.message(1_103, 2, CAPTIONS[6], media=tg.video(705, size=900_000_000))])
    with database.session() as session:
        for username in names.values():
            add_channel(session, f"@{username}", "setup")

    settings = eager_pipeline.conf.monitor_settings
    downloads = MediaStore.from_settings(settings).downloads
    policy = ListenerPolicy(backfill_messages=100, requests_per_second=1000.0,
                            media_dir=str(downloads), media_max_bytes=50_000_000)

    async def no_sleep(seconds):
        return None

    listener = ChannelListener(client, database.sessions, policy, on_stored=embed_posts_task.delay,
                               sleep=no_sleep, on_media=lambda ids: [hash_media_task.delay(i) for i in ids])
    asyncio.run(listener.catch_up_all())
    assert (705, True) in client.downloads and (701, False) in client.downloads

    with database.session() as session:
        rows = session.execute(select(Source.key, Post.external_id, ClusterMembership.cluster_id)
                               .join(Post, Post.source_id == Source.id)
                               .outerjoin(ClusterMembership, ClusterMembership.post_id == Post.id)).all()
        placed = {(key, external_id): cluster_id for key, external_id, cluster_id in rows}
        without_media = session.scalar(select(Post).where(Post.source_id == session.scalar(
            select(Source.id).where(Source.key == "@kanal_b")), Post.external_id == "2"))
        assert without_media is not None and not session.scalars(
            select(PostMedia).where(PostMedia.post_id == without_media.id)).all()
        thumbnail_only = session.scalar(select(MediaFile.kind).join(PostMedia).join(Post).where(
            Post.external_id == "2", Post.source_id == select(Source.id).where(Source.key == "@kanal_c")
            .scalar_subquery()))
        assert thumbnail_only == "image"
    clip_posts = [("@kanal_a", "1"), ("@kanal_b", "1"), ("@kanal_c", "1")]
    clip = {placed[key] for key in clip_posts}
    assert len(clip) == 1 and placed["@kanal_a", "2"] not in clip
    assert not list(downloads.iterdir())  # moved into the store, not copied


def test_expired_files_are_removed_and_their_hashes_kept(database, eager_pipeline, clips, tmp_path):
    from monitor.db.models import MediaHash, utcnow
    from monitor.media.files import MediaStore

    variants, _ = clips
    write_posts(tmp_path / "posts.jsonl", [post("keeper", 1, "", [str(variants["small"])],
                                                datetime(2025, 5, 6, tzinfo=timezone.utc))])
    settings = eager_pipeline.conf.monitor_settings
    import_file(settings, tmp_path / "posts.jsonl")
    store = MediaStore.from_settings(settings)
    with database.session() as session:
        media = session.scalar(select(MediaFile))
        kept = [store.path(media.stored_name), store.path(media.thumbnail_name)]
        assert all(path.is_file() for path in kept)
        assert store.remove_expired(session, utcnow() - timedelta(days=1)) == 0  # first seen just now
        assert store.remove_expired(session, utcnow() + timedelta(seconds=1)) == 1
    assert not any(path.exists() for path in kept)
    with database.session() as session:
        media = session.scalar(select(MediaFile))
        assert media.stored_name is None and media.removed_at is not None and len(media.frames) >= 5
        assert session.scalar(select(func.count()).select_from(MediaHash)) > 0
    # Posted again: the new copy is recorded, so that it is shown, and removed in its turn.
    write_posts(tmp_path / "again.jsonl", [post("keeper", 2, "", [str(variants["small"])],
                                                datetime(2025, 8, 6, tzinfo=timezone.utc))])
    import_file(settings, tmp_path / "again.jsonl")
    with database.session() as session:
        media = session.scalar(select(MediaFile))
        assert media.removed_at is None and store.path(media.stored_name).is_file()
        assert session.scalar(select(func.count()).select_from(MediaFile)) == 1


def test_a_clip_under_a_caption_of_everyday_news_moves_to_the_clip_and_the_news_stays(
        database, eager_pipeline, clips, tmp_path):
    variants, _ = clips
    news = "Курс тенге укрепился к доллару на торгах в среду, сообщает биржа"
    start = datetime(2025, 5, 6, 9, tzinfo=timezone.utc)
    write_posts(tmp_path / "posts.jsonl", [
        post("bank_news", 1, news, [], start),
        post("market_news", 2, news, [], start + timedelta(minutes=5)),
        post("kanal_a", 3, "Аким призывает всех выйти на шествие, смотрите обращение",
             [str(variants["original"])], start + timedelta(minutes=10)),
        post("kanal_b", 4, news, [str(variants["greyscale"])], start + timedelta(minutes=20)),
    ])
    import_file(eager_pipeline.conf.monitor_settings, tmp_path / "posts.jsonl")
    placed = clusters_of(database, ["1", "2", "3", "4"])
    assert placed["1"] == placed["2"] != placed["3"]
    assert placed["4"] == placed["3"]
    with database.session() as session:
        membership = session.scalar(select(ClusterMembership).join(Post).where(Post.external_id == "4"))
        assert membership.method == "media"


def test_a_file_over_the_cap_is_refused_from_disk_and_over_http_and_nothing_is_left_behind(clips, tmp_path):
    import httpx

    from monitor.media.files import MediaStore
    from monitor.media.hashing import HashLimits
    from monitor.media.stage import obtain
    from tests.news_site import serve_news_site

    variants, _ = clips
    store = MediaStore(tmp_path / "store", max_bytes=20_000)
    server, site = serve_news_site()
    site.files = {"clip.mp4": variants["original"]}
    try:
        with httpx.Client() as client:
            for origin in (str(variants["original"]), site.url("/files/clip.mp4")):
                refused = obtain(store, 1, origin, client, HashLimits())
                assert refused.fingerprint is None and "over MEDIA_MAX_BYTES (20,000)" in refused.error
            missing = obtain(store, 2, site.url("/files/nothing.mp4"), client, HashLimits())
            assert missing.error == f"HTTP 404 from {site.url('/files/nothing.mp4')}"
    finally:
        server.shutdown()
    assert list((tmp_path / "store" / "incoming").iterdir()) == []
