"""The home page's shortcuts now live in its blocks (0006 carried them over)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("cms", "0006_pages_content")]

    operations = [migrations.DeleteModel(name="HomeShortcut")]
