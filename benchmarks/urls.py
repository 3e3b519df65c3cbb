from django.shortcuts import render
from django.urls import include, path


def bare(request):
    """The reference: a Django template view with 20 variables, no database, no middleware work
    beyond what every request pays."""
    return render(request, "benchmarks/bare.html", {f"v{i}": i for i in range(20)})


urlpatterns = [path("bench/bare/", bare), path("", include("portal.urls"))]
