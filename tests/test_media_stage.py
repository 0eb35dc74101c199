"""The media stage in the pipeline (eager, as `monitor demo` runs it), on SQLite and
PostgreSQL: one clip in edited variants under unrelated captions across channels is one
cluster, a silent repost joins it, old footage under another claim is linked and alerted,
and hostile files are recorded errors on posts that are kept."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from cli.main import import_file
from monitor.db.models import Alert, ClusterLink, ClusterMembership, MediaFile, Post, PostMedia
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
    assert outcome["1"][0] == "failed" and "corrupt or truncated" in outcome["1"][1] or \
        "readable video" in outcome["1"][1]
    assert outcome["2"] == ("failed", "empty file (0 bytes)")
    assert outcome["3"][0] == "failed" and "decompression bomb" in outcome["3"][1]
    assert outcome["4"] == ("hashed", None)
    assert "5" not in outcome
