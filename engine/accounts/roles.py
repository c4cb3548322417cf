"""The roles of design.md: each is a BPMN lane name and a grant a user holds."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Role:
    code: str
    national: bool
    names: dict[str, str]


ROLES: dict[str, Role] = {
    r.code: r
    for r in [
        Role("csc_operator", False, {"ky": "ККБ оператору", "ru": "Оператор ЦОН", "en": "CSC operator"}),
        Role(
            "ao_specialist",
            False,
            {"ky": "Айыл өкмөтүнүн адиси", "ru": "Специалист айыл окмоту", "en": "Aiyl okmotu specialist"},
        ),
        Role(
            "ao_head",
            False,
            {"ky": "Айыл өкмөт башчысы", "ru": "Глава айыл окмоту", "en": "Head of the aiyl okmotu"},
        ),
        Role(
            "working_commission",
            False,
            {"ky": "Жумушчу комиссия", "ru": "Рабочая комиссия", "en": "Working Commission"},
        ),
        Role(
            "council_secretary",
            False,
            {
                "ky": "Жергиликтүү кеңештин катчысы",
                "ru": "Секретарь местного кенеша",
                "en": "Local council secretary",
            },
        ),
        Role(
            "state_body",
            False,
            {
                "ky": "Мамлекеттик органдын кызматкери",
                "ru": "Сотрудник государственного органа",
                "en": "State body officer",
            },
        ),
        Role(
            "coordination_body",
            True,
            {"ky": "Макулдашуучу орган", "ru": "Согласующий орган", "en": "Coordination body"},
        ),
        Role(
            "monitoring_executor",
            True,
            {"ky": "Жооптуу аткаруучу", "ru": "Ответственный исполнитель", "en": "Responsible executor"},
        ),
        Role(
            "authorized_body_head",
            True,
            {
                "ky": "Ыйгарым укуктуу органдын жетекчиси",
                "ru": "Руководитель уполномоченного органа",
                "en": "Head of the authorized body",
            },
        ),
        Role(
            "process_owner",
            False,
            {"ky": "Процесстин ээси", "ru": "Владелец процесса", "en": "Process owner"},
        ),
        Role("admin", True, {"ky": "Администратор", "ru": "Администратор", "en": "Administrator"}),
    ]
}

KNOWN_ROLES = frozenset(ROLES)
