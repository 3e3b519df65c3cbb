"""Where uploaded and generated files live in production with object storage (MEDIA_BUCKET).

The bucket is private: a file's URL is a signed link valid for five minutes, and private files
(application documents, receipts) are sent by views that check who may see them. Wagtail's
image renditions are the exception: they are public content on public pages, which the
anonymous page cache keeps for minutes and fragments for longer, and which the Content-
Security-Policy allows from this site only. So their URL is the site's own /media/images/…
(``portal.core.media_bucket``), which ``portal.views.site.cms_image`` serves from whichever
storage holds them.

Nothing here imports the S3 library: the settings read this module.
"""

# Where Wagtail writes image renditions (wagtail.images.models.AbstractRendition.get_upload_to).
PUBLIC_IMAGES = "images/"


def bucket_storage(bucket, *, endpoint_url=None, region=None, access_key=None, secret_key=None):
    """The STORAGES entry of the media bucket: private objects, signed links for five minutes,
    never overwriting a file of the same name."""
    return {
        "BACKEND": "portal.core.media_bucket.MediaBucketStorage",
        "OPTIONS": {
            "bucket_name": bucket,
            "endpoint_url": endpoint_url,
            "region_name": region,
            "access_key": access_key,
            "secret_key": secret_key,
            "default_acl": "private",
            "querystring_auth": True,
            "querystring_expire": 300,
            "file_overwrite": False,
        },
    }
