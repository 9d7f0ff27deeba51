"""PRO through Telegram Stars (XTR): invoice, pre-checkout, payment, refund; /adult; /paysupport."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, LabeledPrice, Message, PreCheckoutQuery
from aiogram.utils.i18n import gettext as _

from bot.db.models import User
from bot.deps import BotDeps
from bot.keyboards import AdultCb, adult_keyboard

log = logging.getLogger(__name__)
CURRENCY = "XTR"


def _payload(deps: BotDeps) -> str:
    return f"pro:{deps.config.pro_days}"


async def pro_command(message: Message, deps: BotDeps, account: User) -> None:
    until = await deps.accounts.pro_until(account.id)
    now = datetime.now(UTC)
    status = (
        _("Your PRO is active until {date}.").format(date=f"{until:%d.%m.%Y}")
        if until and until > now
        else _("You are on the free plan.")
    )
    await message.answer(
        status
        + "\n\n"
        + _(
            "PRO gives: unlimited messages with every persona, all photos, and 18+ conversations with "
            "Partner personas for adults who turn them on (/adult). {days} days for {price} ⭐."
        ).format(days=deps.config.pro_days, price=deps.config.pro_price_stars)
    )
    await message.answer_invoice(
        title="DORA PRO",
        description=_("{days} days of PRO").format(days=deps.config.pro_days),
        payload=_payload(deps),
        currency=CURRENCY,
        prices=[LabeledPrice(label="PRO", amount=deps.config.pro_price_stars)],
    )


async def pre_checkout(query: PreCheckoutQuery, deps: BotDeps) -> None:
    ok = (
        query.currency == CURRENCY
        and query.invoice_payload == _payload(deps)
        and query.total_amount == deps.config.pro_price_stars
    )
    if ok:
        await query.answer(ok=True)
    else:
        log.warning("payments: pre-checkout refused (payload or amount does not match the offer)")
        await query.answer(ok=False, error_message=_("This invoice is out of date. Send /pro for a new one."))


async def paid(message: Message, deps: BotDeps, account: User) -> None:
    payment = message.successful_payment
    assert payment is not None
    if (
        payment.currency != CURRENCY
        or payment.invoice_payload != _payload(deps)
        or payment.total_amount != deps.config.pro_price_stars
    ):
        log.warning("payments: a successful payment that does not match the offer; not granted")
        await message.answer(_("Something is off with this payment. Please write to /paysupport."))
        return
    now = datetime.now(UTC)
    await deps.accounts.record_payment(
        account.id,
        payment.telegram_payment_charge_id,
        payment.invoice_payload,
        payment.currency,
        payment.total_amount,
        deps.config.pro_days,
        now,
    )
    await deps.accounts.record_event(account.id, "pro_paid", now)
    until = await deps.accounts.pro_until(account.id)
    await message.answer(_("Thank you! PRO is active until {date}.").format(date=f"{until:%d.%m.%Y}"))


async def refunded(message: Message, deps: BotDeps) -> None:
    refund = message.refunded_payment
    assert refund is not None
    await deps.accounts.refund_payment(refund.telegram_payment_charge_id, datetime.now(UTC))
    await message.answer(_("Your payment was refunded, and the PRO time it gave is cancelled."))


async def paysupport(message: Message) -> None:
    await message.answer(
        _(
            "Questions about payments or a refund: describe the problem in a message starting with "
            "/paysupport, and the operator of this bot will answer. Refunds of Stars are possible for "
            "unused PRO time."
        )
    )


def _minor_refusal() -> str:
    return _(
        "18+ conversations and romance are off for good on this account: you told me you are under 18. "
        "Talking as friends is always welcome."
    )


async def adult_command(message: Message, account: User) -> None:
    if account.minor_since is not None:  # said they are under 18: no offer, no buttons
        await message.answer(_minor_refusal())
        return
    await message.answer(
        _(
            "18+ conversations are for adults only, with Partner personas, on PRO. Confirm that you are "
            "18 or older and want them turned on:"
        ),
        reply_markup=adult_keyboard(),
    )


async def adult_callback(query: CallbackQuery, callback_data: AdultCb, deps: BotDeps, account: User) -> None:
    await query.answer()
    if account.minor_since is not None:  # a button from before, or a forged one: nothing changes
        if query.message:
            await query.message.answer(_minor_refusal())
        return
    on = callback_data.action == "on"
    await deps.accounts.set_adult(account.id, confirmed=on, opt_in=on)  # refuses a minor too
    if query.message:
        await query.message.answer(_("18+ is on (it needs PRO).") if on else _("18+ is off."))


def build_router() -> Router:
    """A fresh router (a router can belong to one dispatcher only; tests restart the bot)."""
    router = Router(name="pro")
    router.message.register(pro_command, Command("pro"))
    router.pre_checkout_query.register(pre_checkout)
    router.message.register(paid, F.successful_payment)
    router.message.register(refunded, F.refunded_payment)
    router.message.register(paysupport, Command("paysupport"))
    router.message.register(adult_command, Command("adult"))
    router.callback_query.register(adult_callback, AdultCb.filter())
    return router
