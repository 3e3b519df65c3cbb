"""The media bucket's storage (portal/core/storage.py says why images are named differently)."""

from django.conf import settings
from django.utils.encoding import filepath_to_uri
from storages.backends.s3 import S3Storage

from .storage import PUBLIC_IMAGES


class MediaBucketStorage(S3Storage):
    """Private objects with signed links, except the CMS's image renditions, named by the
    site's own /media/images/ address."""

    def url(self, name, parameters=None, expire=None, http_method=None):
        if name.startswith(PUBLIC_IMAGES):
            return settings.MEDIA_URL + filepath_to_uri(name)
        return super().url(name, parameters=parameters, expire=expire, http_method=http_method)
