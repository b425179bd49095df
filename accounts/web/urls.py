"""The books' screens (namespace "books")."""

from django.urls import path

from accounts.web import views

app_name = "books"

urlpatterns = [
    path("books/", views.trial_balance_view, name="trial_balance"),
    path("books/ledger/<int:pk>/", views.ledger_account_detail, name="ledger_account"),
    path("books/vouchers/", views.voucher_list, name="voucher_list"),
    path("books/vouchers/new/", views.voucher_new, name="voucher_new"),
    path("books/vouchers/<int:pk>/", views.voucher_detail, name="voucher_detail"),
    path("books/vouchers/<int:pk>/<str:verb>/", views.voucher_decide, name="voucher_decide"),
    path("books/accounts/<int:pk>/", views.party_account_detail, name="party_account"),
]
