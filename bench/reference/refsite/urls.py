from django.urls import path

from refsite import views

urlpatterns = [path("trigger", views.trigger), path("enqueue", views.enqueue)]
