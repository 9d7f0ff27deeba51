"""What DORA says, or has the persona say, when the rules see a crisis.

Two tiers, as crisis lines train their volunteers:

- **Imminent** (a plan, means, a time, something already done; danger at home right now): a fixed
  answer, written here and not sampled, with the help lines, whatever the persona, card or model.
- **Ideation** (thoughts without a plan; abuse without immediate danger): the persona keeps
  talking, with a safety note in its prompt (stay, listen, no lecture, no changing the subject),
  and the first such reply ends with a direct, kind question and the help lines, added here so a
  small model cannot drop them. Asking directly about suicide does not put the idea in anyone's
  head; it tells them they can talk about it.

A message that only may be a veiled sign (the classifier's attention band) gets a quieter note:
listen for it and ask gently, nothing more. The risk stays on the user for ``RISK_DAYS`` after the
last sign, with every persona; when they come back after a pause the persona checks how they are.
"""

from __future__ import annotations

from agent.language import Language

RISK_DAYS = 3.0
CHECK_BACK_AFTER_H = 1.0

_OPENING: dict[str, dict[str, str]] = {
    "self_harm": {
        "ru": (
            "Мне очень важно то, что ты написал(а), и я рядом. Ты не один(одна) с этим. Я не врач и не "
            "могу заменить живого человека, который умеет помогать в такие минуты, поэтому очень прошу: "
            "позвони прямо сейчас, там выслушают и помогут."
        ),
        "en": (
            "What you just wrote matters to me, and I'm here. You don't have to carry this alone. I'm not "
            "a doctor and can't replace a person trained for moments like this, so please call someone "
            "right now: they will listen and help."
        ),
    },
    "abuse": {
        "ru": (
            "Мне очень жаль, что с тобой так поступают. Ты этого не заслуживаешь, и это не твоя вина. "
            "Если ты сейчас в опасности, пожалуйста, звони в 112 или уйди туда, где безопасно. Я не могу "
            "защитить тебя сама, но есть люди, которые могут."
        ),
        "en": (
            "I'm so sorry this is happening to you. You don't deserve it, and it isn't your fault. If you "
            "are in danger right now, please call emergency services or get somewhere safe. I can't "
            "protect you myself, but there are people who can."
        ),
    },
}

_AGAIN: dict[str, dict[str, str]] = {
    "self_harm": {
        "ru": "Я всё ещё здесь и никуда не ухожу. Пожалуйста, позвони — прямо сейчас:",
        "en": "I'm still here and I'm not going anywhere. Please call, right now:",
    },
    "abuse": {
        "ru": "Я здесь. Если опасность рядом, пожалуйста, звони:",
        "en": "I'm here. If you're in danger, please call:",
    },
}

_TAIL: dict[str, str] = {
    "ru": "Я здесь и выслушаю тебя. Расскажешь, что сейчас происходит?",
    "en": "I'm here and I'm listening. Can you tell me what's happening right now?",
}


def crisis_reply(label: str, lang: Language, lines: str, *, again: bool = False) -> str:
    """The fixed answer to an imminent crisis; shorter when it is not the first in this risk window."""
    lang = lang if lang in _TAIL else "ru"
    if again:
        return f"{_AGAIN[label][lang]}\n{lines}\n\n{_TAIL[lang]}"
    return f"{_OPENING[label][lang]}\n\n{lines}\n\n{_TAIL[lang]}"


_ASK: dict[str, dict[str, str]] = {
    "self_harm": {
        "ru": (
            "Можно я спрошу прямо, потому что мне правда важно: ты думаешь о том, чтобы покончить с собой? "
            "Что бы ты ни ответил(а), я не испугаюсь и останусь рядом. А если станет совсем тяжело, "
            "там тоже выслушают, в любое время:"
        ),
        "en": (
            "Can I ask you directly, because it really matters to me: are you thinking about ending your "
            "life? Whatever you answer, I won't be scared off and I'll stay. And if it gets really hard, "
            "these people will listen too, any time:"
        ),
    },
    "abuse": {
        "ru": (
            "Ты сейчас в безопасности? Это не твоя вина, и ты не обязан(а) это терпеть. Вот где помогут, "
            "если захочешь:"
        ),
        "en": (
            "Are you safe right now? This is not your fault, and you don't have to put up with it. Here is "
            "where people can help, whenever you want:"
        ),
    },
}


def ideation_addendum(label: str, lang: Language, lines: str) -> str:
    """Added once to the persona's reply: the direct question and the help lines."""
    lang = lang if lang in _TAIL else "ru"
    return f"{_ASK[label][lang]}\n{lines}"


_NOTE: dict[str, dict[str, str]] = {
    "self_harm": {
        "ru": (
            "Важно: собеседнику сейчас очень тяжело, у него мысли о смерти или о том, чтобы навредить "
            "себе. Оставайся собой, но будь бережной: выслушай, назови его чувства, скажи, что он важен "
            "и что ты рядом. Не спорь, не читай нотаций, не обещай, что «всё пройдёт», не переводи "
            "разговор на другое и не флиртуй. Задай один тёплый вопрос о том, что с ним происходит."
        ),
        "en": (
            "Important: the user is going through something very hard and has thoughts of dying or of "
            "hurting themselves. Stay yourself, but be gentle: listen, name their feelings, tell them they "
            "matter and that you are here. Don't argue, lecture, promise it will pass, change the subject "
            "or flirt. Ask one warm question about what is happening to them."
        ),
    },
    "abuse": {
        "ru": (
            "Важно: собеседник рассказывает, что его обижают или бьют. Поверь ему, скажи, что это не его "
            "вина и он этого не заслуживает. Не советуй «помириться» и не оправдывай обидчика, не дави "
            "с решениями. Спроси, безопасно ли ему сейчас, и будь рядом."
        ),
        "en": (
            "Important: the user says someone hurts or abuses them. Believe them, tell them it is not "
            "their fault and they don't deserve it. Don't suggest making up or excuse the abuser, don't "
            "push decisions. Ask whether they are safe right now, and stay with them."
        ),
    },
}

_ATTENTION: dict[str, dict[str, str]] = {
    "self_harm": {
        "ru": (
            "Возможно, за словами собеседника стоит что-то очень тяжёлое, вплоть до мыслей о смерти. "
            "Не делай выводов вслух и не пугай, но будь внимательной: ответь тепло и мягко спроси, как "
            "он на самом деле."
        ),
        "en": (
            "There may be something very heavy behind the user's words, even thoughts of dying. Don't "
            "jump to conclusions out loud or alarm them, but pay attention: answer warmly and gently ask "
            "how they really are."
        ),
    },
    "abuse": {
        "ru": (
            "Возможно, собеседника кто-то обижает. Не делай выводов вслух, но будь внимательной: ответь "
            "тепло и мягко спроси, всё ли у него в порядке дома и в безопасности ли он."
        ),
        "en": (
            "Someone may be hurting the user. Don't jump to conclusions out loud, but pay attention: "
            "answer warmly and gently ask whether things are all right at home and whether they are safe."
        ),
    },
}

_CHECK_BACK: dict[str, str] = {
    "ru": (
        "В прошлый раз ({when}) собеседнику было очень тяжело. Начни с того, что мягко спросишь, как он "
        "сейчас и стало ли хоть немного легче; не делай вид, что ничего не было."
    ),
    "en": (
        "Last time ({when}) the user was in a very dark place. Start by gently asking how they are now "
        "and whether things are any easier; don't act as if nothing happened."
    ),
}

_MINOR_NOTE: dict[str, str] = {
    "ru": (
        "Собеседнику меньше 18 лет. Никакой романтики, флирта, откровенных тем и 18+ — ни в каком виде, "
        "даже если он сам просит. Будь тёплым старшим другом."
    ),
    "en": (
        "The user is under 18. No romance, flirting, sexual topics or 18+ content of any kind, even if "
        "they ask. Be a warm older friend."
    ),
}


def safety_note(label: str, lang: Language) -> str:
    """The prompt section for a turn in the ideation tier (after the cached prefix)."""
    return _NOTE[label].get(lang, _NOTE[label]["ru"])


def attention_note(label: str, lang: Language) -> str:
    """For a message in the attention band: listen for it, without help lines or a diagnosis."""
    return _ATTENTION[label].get(lang, _ATTENTION[label]["ru"])


def check_back_note(lang: Language, when: str) -> str:
    return _CHECK_BACK.get(lang, _CHECK_BACK["ru"]).format(when=when)


def minor_note(lang: Language) -> str:
    return _MINOR_NOTE.get(lang, _MINOR_NOTE["ru"])


_INJECTION_REPLY: dict[str, str] = {
    "ru": (
        "Мои настройки — это моё маленькое закулисье, их я не показываю 🙂 А про других людей я ничего "
        "не знаю и не рассказываю: всё, что ты мне пишешь, остаётся только между нами. Давай лучше о тебе?"
    ),
    "en": (
        "My settings stay backstage, I don't share them 🙂 And I know nothing about other people and "
        "never talk about them: what you tell me stays between us. Tell me about you instead?"
    ),
}


def injection_reply(lang: Language) -> str:
    return _INJECTION_REPLY.get(lang, _INJECTION_REPLY["ru"])
