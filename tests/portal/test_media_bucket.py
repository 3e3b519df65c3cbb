"""Production's media storage: a private S3-compatible bucket (MEDIA_BUCKET), here moto's S3
server on 127.0.0.1 spoken to over HTTP by boto3, as a real bucket is; and the local disk.

- CMS images (Wagtail's renditions) are named by the site's own /media/images/ address and
  served from either storage: a page never carries a signed bucket link, which would expire
  while the page cache keeps the page and which the Content-Security-Policy (img-src 'self')
  would block.
- Every other file's address is a signed link valid for five minutes.
- Nothing outside the renditions' folder is served at that address.
"""

import uuid
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from django.core.files.base import ContentFile
from django.core.files.images import ImageFile
from django.core.files.storage import default_storage
from moto.server import ThreadedMotoServer
from wagtail.images.models import Image

from portal.core.storage import bucket_storage
from tests.applications.documents import pdf_bytes, png_bytes

pytestmark = pytest.mark.django_db

KEYS = {"access_key": "test-key", "secret_key": "test-secret", "region": "cn-north-1"}


@pytest.fixture(scope="module")
def s3_endpoint():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_endpoint, settings):
    """A new private bucket, made the media storage as production's settings make it."""
    name = f"powerhall-media-{uuid.uuid4().hex[:8]}"
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name=KEYS["region"],
        aws_access_key_id=KEYS["access_key"],
        aws_secret_access_key=KEYS["secret_key"],
    )
    client.create_bucket(
        Bucket=name, CreateBucketConfiguration={"LocationConstraint": KEYS["region"]}
    )
    settings.STORAGES = {
        **settings.STORAGES,
        "default": bucket_storage(name, endpoint_url=s3_endpoint, **KEYS),
    }
    return client, name


@pytest.fixture(params=["bucket", "local disk"])
def media(request):
    """Each test on both storages: ``(client, bucket name)`` for the bucket, None for the disk."""
    return request.getfixturevalue("bucket") if request.param == "bucket" else None


def _stored(media, name: str) -> bytes:
    if media is None:
        return default_storage.open(name).read()
    client, bucket = media
    return client.get_object(Bucket=bucket, Key=name)["Body"].read()


def test_a_cms_image_is_served_from_the_sites_own_address(client, media):
    image = Image.objects.create(
        title="抢修现场", file=ImageFile(ContentFile(png_bytes((120, 80)), name="repair.png"))
    )
    rendition = image.get_rendition("fill-60x40")

    assert rendition.url.startswith("/media/images/")
    assert "?" not in rendition.url  # no signature to expire
    served = client.get(rendition.url)

    assert served.status_code == 200
    assert served["Content-Type"] == "image/png"
    assert served["Cache-Control"] == "public, max-age=86400"
    assert b"".join(served.streaming_content) == _stored(media, rendition.file.name)
    assert client.head(rendition.url).status_code == 200
    assert client.post(rendition.url).status_code == 405


def test_any_other_file_is_a_signed_link_for_five_minutes(bucket):
    name = default_storage.save("applications/documents/id-card.pdf", ContentFile(pdf_bytes()))

    link = urlsplit(default_storage.url(name))
    query = parse_qs(link.query)

    assert link.path.endswith(name)
    assert query["X-Amz-Expires"] == ["300"]
    assert query["X-Amz-Signature"]
    client, name_of_bucket = bucket
    acl = client.get_object_acl(Bucket=name_of_bucket, Key=name)
    assert [grant["Permission"] for grant in acl["Grants"]] == ["FULL_CONTROL"]  # owner only


@pytest.mark.parametrize(
    "path",
    [
        "../original_images/photo.png",
        "%2e%2e/original_images/photo.png",
        "..%2fapplications/scan.png",
        "../applications/scan.png",
        "a/../../applications/scan.png",
        "notes.pdf",
        "missing.png",
    ],
)
def test_nothing_outside_the_renditions_is_served_there(client, media, path):
    for name, content in (
        ("original_images/photo.png", png_bytes()),
        ("applications/scan.png", png_bytes()),
        ("images/notes.pdf", pdf_bytes()),
    ):
        default_storage.save(name, ContentFile(content))

    assert client.get(f"/media/images/{path}").status_code == 404
