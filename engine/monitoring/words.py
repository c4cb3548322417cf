"""Words of the monitoring report and its charts in Kyrgyz, Russian and English.

The report is made by the engine (Process E's final-report step attaches it, with no web request and so
no Flask-Babel), so its words live here, like the labels of forms and diagrams; the question and answer
labels come from the evaluation sheet's own form file (forms/evaluation/full.json).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

__all__ = [
    "answer_label",
    "indicator_name",
    "kind_label",
    "municipality_name",
    "problem_text",
    "question_label",
    "service_name",
    "word",
]

_FORMS = Path(__file__).resolve().parents[2] / "forms" / "evaluation"

WORDS: dict[str, dict[str, str]] = {
    "title": {
        "ky": "Муниципалдык кызмат көрсөтүүлөрдүн сапатына мониторинг жүргүзүүнүн жыйынтыктары боюнча жыйынтыктоочу доклад",
        "ru": "Итоговый доклад о результатах мониторинга качества муниципальных услуг",
        "en": "Final report on the monitoring of the quality of municipal services",
    },
    "quarter_title": {"ky": "Чейректик жыйынтыктар", "ru": "Итоги квартала", "en": "Quarterly results"},
    "period": {"ky": "Мезгил", "ru": "Период", "en": "Period"},
    "year": {"ky": "жыл", "ru": "год", "en": "year"},
    "quarter_short": {"ky": "Ч", "ru": "К", "en": "Q"},
    "prepared_on": {"ky": "Даярдалган күнү", "ru": "Дата подготовки", "en": "Prepared on"},
    "scope": {
        "ky": "Камтылган муниципалитеттер",
        "ru": "Охваченные муниципалитеты",
        "en": "Municipalities covered",
    },
    "sources": {
        "ky": "Булактар: ККБдагы кайрылуулар жана баалоо баракчалары",
        "ru": "Источники: обращения в ЦОН и листы оценки",
        "en": "Sources: CSC cases and evaluation sheets",
    },
    "s_services": {
        "ky": "1. Кызмат көрсөтүүлөр жана алардын жооптуу аткаруучулары",
        "ru": "1. Услуги и их ответственные исполнители",
        "en": "1. Services and their responsible executors",
    },
    "s_ranking": {
        "ky": "2. Кызмат көрсөтүүлөрдүн рейтинги",
        "ru": "2. Рейтинг услуг",
        "en": "2. Ranking of services",
    },
    "s_indicators": {
        "ky": "3. Сапаттын көрсөткүчтөрүнө жетишүү (II бөлүм)",
        "ru": "3. Достижение показателей качества (раздел II)",
        "en": "3. Achievement of the quality indicators (section II)",
    },
    "s_figures": {
        "ky": "4. Кызмат көрсөтүүлөр жана муниципалитеттер боюнча көрсөткүчтөр",
        "ru": "4. Показатели по услугам и муниципалитетам",
        "en": "4. Figures per service and municipality",
    },
    "s_questions": {
        "ky": "5. Суроолор боюнча канааттануу",
        "ru": "5. Удовлетворённость по вопросам",
        "en": "5. Satisfaction per question",
    },
    "s_problems": {
        "ky": "6. Аныкталган мүнөздүү жана актуалдуу көйгөйлөр",
        "ru": "6. Выявленные характерные и актуальные проблемы",
        "en": "6. Characteristic and topical problems identified",
    },
    "s_charts": {
        "ky": "7. Графиктер жана диаграммалар",
        "ru": "7. Графики и диаграммы",
        "en": "7. Charts and diagrams",
    },
    "s_annex": {
        "ky": "Тиркеме: мониторингдин суроолоруна берилген жооптордун маалымат базасы",
        "ru": "Приложение: база данных ответов на вопросы мониторинга",
        "en": "Annex: the database of answers to the monitoring questions",
    },
    "annex_note": {
        "ky": "Жооптор жашыруун сакталат: арыз ээсинин аты жана иштин номери жок.",
        "ru": "Ответы хранятся анонимно: без имени заявителя и номера дела.",
        "en": "The answers are anonymous: no applicant's name and no case number.",
    },
    "ranking_quality": {"ky": "Көрсөтүү сапаты боюнча", "ru": "По качеству оказания", "en": "By quality"},
    "ranking_demand": {
        "ky": "Талап кылынуу деңгээли боюнча",
        "ru": "По уровню востребованности",
        "en": "By demand",
    },
    "ranking_note": {
        "ky": "Сапат баасы — мөөнөттө көрсөтүлгөн үлүштүн, канааттануу көрсөткүчүнүн жана негизсиз иш-аракеттер менен коррупция белгиленбеген баракчалардын үлүшүнүн орточосу.",
        "ru": "Оценка качества — среднее из доли оказанных в срок, индекса удовлетворённости и доли листов без необоснованных действий и коррупции.",
        "en": "The quality score is the mean of the share served within the term, the satisfaction index and the share of sheets reporting neither unfounded actions nor corruption.",
    },
    "rank": {"ky": "Орун", "ru": "Место", "en": "Rank"},
    "code": {"ky": "Код", "ru": "Код", "en": "Code"},
    "service": {"ky": "Кызмат көрсөтүү", "ru": "Услуга", "en": "Service"},
    "provider": {"ky": "Жооптуу аткаруучу", "ru": "Ответственный исполнитель", "en": "Responsible executor"},
    "paid": {"ky": "Акы төлөнүүчү", "ru": "Платная", "en": "Paid"},
    "yes": {"ky": "Ооба", "ru": "Да", "en": "Yes"},
    "no": {"ky": "Жок", "ru": "Нет", "en": "No"},
    "municipality": {"ky": "Муниципалитет", "ru": "Муниципалитет", "en": "Municipality"},
    "all_municipalities": {
        "ky": "Бардык муниципалитеттер",
        "ru": "Все муниципалитеты",
        "en": "All municipalities",
    },
    "total": {"ky": "Баары", "ru": "Итого", "en": "Total"},
    "requests": {"ky": "Кайрылуулар", "ru": "Обращения", "en": "Requests"},
    "on_time_share": {"ky": "Мөөнөттө", "ru": "В срок", "en": "On time"},
    "avg_days": {
        "ky": "Орточо мөөнөт, жум. күн",
        "ru": "Средний срок, раб. дн.",
        "en": "Average, working days",
    },
    "max_days": {"ky": "Эң узак мөөнөт", "ru": "Максимальный срок", "en": "Longest"},
    "norm_days": {"ky": "Стандарттык мөөнөт", "ru": "Нормативный срок", "en": "Standard term"},
    "max_deviation": {"ky": "Эң чоң четтөө", "ru": "Макс. отклонение", "en": "Max. deviation"},
    "overdue_open": {
        "ky": "Мөөнөтү өткөн, даяр эмес",
        "ru": "Просрочено, не готово",
        "en": "Overdue, not ready",
    },
    "sheets": {"ky": "Баракчалар", "ru": "Листы оценки", "en": "Sheets"},
    "satisfaction_index": {"ky": "Канааттануу", "ru": "Удовлетворённость", "en": "Satisfaction"},
    "unfounded": {"ky": "Негизсиз иш-аракеттер", "ru": "Необоснованные действия", "en": "Unfounded actions"},
    "corruption": {"ky": "Коррупция", "ru": "Коррупция", "en": "Corruption"},
    "quality": {"ky": "Сапат баасы", "ru": "Оценка качества", "en": "Quality score"},
    "question": {"ky": "Суроо", "ru": "Вопрос", "en": "Question"},
    "answers": {"ky": "Жооптор", "ru": "Ответов", "en": "Answers"},
    "min": {"ky": "Эң төмөн", "ru": "Минимум", "en": "Minimum"},
    "max": {"ky": "Эң жогору", "ru": "Максимум", "en": "Maximum"},
    "indicator": {"ky": "Көрсөткүч", "ru": "Показатель", "en": "Indicator"},
    "value": {"ky": "Маани", "ru": "Значение", "en": "Value"},
    "no_data": {"ky": "Маалымат жок", "ru": "Нет данных", "en": "No data"},
    "no_problems": {
        "ky": "Олуттуу көйгөйлөр аныкталган жок.",
        "ru": "Существенных проблем не выявлено.",
        "en": "No significant problems were found.",
    },
    "date": {"ky": "Кайрылуу датасы", "ru": "Дата обращения", "en": "Date of appeal"},
    "variant": {"ky": "Вариант", "ru": "Вариант", "en": "Variant"},
    "source": {"ky": "Булак", "ru": "Источник", "en": "Source"},
    "age": {"ky": "Жашы", "ru": "Возраст", "en": "Age"},
    "gender": {"ky": "Жынысы", "ru": "Пол", "en": "Gender"},
    "health": {"ky": "Чектөөлөр", "ru": "Ограничения", "en": "Limitations"},
    "unfounded_kinds": {
        "ky": "Негизсиз иш-аракеттердин түрлөрү",
        "ru": "Виды необоснованных действий",
        "en": "Kinds of unfounded actions",
    },
    "comment": {"ky": "Комментарий", "ru": "Комментарий", "en": "Comment"},
    "chart_demand": {
        "ky": "Кайрылуулардын саны (талап)",
        "ru": "Число обращений (спрос)",
        "en": "Requests (demand)",
    },
    "chart_on_time": {
        "ky": "Стандарттык мөөнөттө көрсөтүлгөн үлүшү, %",
        "ru": "Доля оказанных в стандартный срок, %",
        "en": "Share served within the standard term, %",
    },
    "chart_terms": {
        "ky": "Иш жүзүндөгү мөөнөт менен ченемдик мөөнөт (жумуш күндөрү)",
        "ru": "Фактический и нормативный срок (рабочие дни)",
        "en": "Actual against normative time (working days)",
    },
    "chart_satisfaction": {
        "ky": "Суроолор боюнча канааттануу, %",
        "ru": "Удовлетворённость по вопросам, %",
        "en": "Satisfaction per question, %",
    },
    "chart_quarters": {
        "ky": "Чейректер боюнча кайрылуулар",
        "ru": "Обращения по кварталам",
        "en": "Requests per quarter",
    },
    "not_recorded": {
        "ky": "Системада катталбайт (ченемдик мааниси бекитилген эмес)",
        "ru": "В системе не учитывается (нормативное значение не установлено)",
        "en": "Not recorded in the system (no normative value established)",
    },
    "qi1_value": {
        "ky": "Ар бир кадамы мөөнөтүндө аткарылган кайрылуулар: {share}",
        "ru": "Обращения, все шаги которых выполнены в срок: {share}",
        "en": "Cases whose every step met its deadline: {share}",
    },
    "qi2_value": {
        "ky": "Мөөнөттө: {share}; орточо {avg} / ченем {norm} жум. күн; эң чоң четтөө {dev}",
        "ru": "В срок: {share}; в среднем {avg} при нормативе {norm} раб. дн.; макс. отклонение {dev}",
        "en": "On time: {share}; average {avg} against {norm} working days; max. deviation {dev}",
    },
    "qi3_value": {
        "ky": "Төлөмдөр системада катталбайт; акы төлөнүүчү кызматтар: {paid}",
        "ru": "Платежи в системе не учитываются; платных услуг: {paid}",
        "en": "Payments are not recorded; paid services: {paid}",
    },
    "qi4_value": {
        "ky": "Электрондук кызмат катталбайт; баалоо баракчаларынын онлайн толтурулганы: {share}",
        "ru": "Электронная услуга не учитывается; листов оценки заполнено онлайн: {share}",
        "en": "Electronic provision is not recorded; evaluation sheets filled in online: {share}",
    },
    "qi6_value": {
        "ky": "Маалыматтын көлөмүнө толук канааттангандар: {share}",
        "ru": "Полностью удовлетворены объёмом информации: {share}",
        "en": "Fully satisfied with the information: {share}",
    },
    "qi7_value": {
        "ky": "Канааттануу көрсөткүчү: {share} ({sheets} баракча)",
        "ru": "Индекс удовлетворённости: {share} ({sheets} листов)",
        "en": "Satisfaction index: {share} ({sheets} sheets)",
    },
    "qi8_value": {
        "ky": "Даттануулар (B процесси) азырынча катталбайт; негизсиз иш-аракеттер: {unfounded}, коррупция: {corruption}",
        "ru": "Жалобы (процесс B) пока не учитываются; необоснованные действия: {unfounded}, коррупция: {corruption}",
        "en": "Complaints (Process B) are not recorded yet; unfounded actions: {unfounded}, corruption: {corruption}",
    },
    "p_late": {
        "ky": "«{service}»: стандарттык мөөнөттө {share} гана көрсөтүлдү ({late} кечикти)",
        "ru": "«{service}»: в стандартный срок оказано лишь {share} ({late} с опозданием)",
        "en": "“{service}”: only {share} served within the standard term ({late} late)",
    },
    "p_deviation": {
        "ky": "«{service}»: мөөнөттөн эң көп ашуу {days} жумуш күн",
        "ru": "«{service}»: максимальное превышение срока {days} раб. дн.",
        "en": "“{service}”: the term was exceeded by up to {days} working days",
    },
    "p_dissatisfied": {
        "ky": "«{service}»: канааттануу көрсөткүчү {share}",
        "ru": "«{service}»: индекс удовлетворённости {share}",
        "en": "“{service}”: satisfaction index {share}",
    },
    "p_unfounded": {
        "ky": "Негизсиз иш-аракеттер тууралуу {count} билдирүү: {kinds}",
        "ru": "Сообщений о необоснованных действиях: {count} ({kinds})",
        "en": "{count} reports of unfounded actions: {kinds}",
    },
    "p_corruption": {
        "ky": "Коррупция көрүнүштөрү тууралуу {count} билдирүү",
        "ru": "Сообщений о проявлениях коррупции: {count}",
        "en": "{count} reports of corruption",
    },
    "p_question": {
        "ky": "«{question}»: канааттанбагандардын үлүшү {share}",
        "ru": "«{question}»: доля неудовлетворённых {share}",
        "en": "“{question}”: {share} not satisfied",
    },
}

QUESTION_SHORT: dict[str, dict[str, str]] = {
    "q1_schedule": {"ky": "Иш графиги", "ru": "График работы", "en": "Work schedule"},
    "q2_premises": {"ky": "Жайдын жабдуулары", "ru": "Оснащение помещения", "en": "Premises and equipment"},
    "q3_queue": {"ky": "Кезекти уюштуруу", "ru": "Организация очереди", "en": "Queue"},
    "q4_time": {"ky": "Кеткен убакыт", "ru": "Затраченное время", "en": "Time taken"},
    "q5_competence": {"ky": "Компетенттүүлүк", "ru": "Компетентность", "en": "Competence"},
    "q6_politeness": {
        "ky": "Сылыктык жана ыкластуулук",
        "ru": "Вежливость и внимательность",
        "en": "Politeness",
    },
    "q7_overall": {
        "ky": "Тейлөөнүн жалпы деңгээли",
        "ru": "Общий уровень обслуживания",
        "en": "Overall service",
    },
    "q8_information": {"ky": "Маалыматтын көлөмү", "ru": "Объём информации", "en": "Information"},
    "result": {
        "ky": "Кызмат көрсөтүүнүн жыйынтыгы",
        "ru": "Результат оказания услуги",
        "en": "Result of the service",
    },
}

# Section II of the monitoring regulation (catalogue §7.4): the Kyrgyz is verbatim, the typo of QI-7 corrected.
INDICATORS: dict[str, dict[str, str]] = {
    "QI-1": {
        "ky": "Муниципалдык кызматтын иш жүзүндө көрсөтүлүш процедурасынын муниципалдык кызмат стандарттарына төп келүүсү",
        "ru": "Соответствие фактической процедуры оказания услуги стандартам муниципальных услуг",
        "en": "The actual procedure of providing the service complies with the municipal service standards",
    },
    "QI-2": {
        "ky": "Муниципалдык кызматты керектөө үчүн кайрылгандардын убакыт чыгымдарынын ченемдик бекитилген маанилерге төп келүүсү",
        "ru": "Соответствие временных затрат заявителей нормативно установленным значениям",
        "en": "Applicants' time costs comply with the normatively established values",
    },
    "QI-3": {
        "ky": "Муниципалдык кызматты керектөө үчүн кайрылгандардын каржылык чыгымдарынын ченемдик бекитилген маанилерге төп келүүсү",
        "ru": "Соответствие финансовых затрат заявителей нормативно установленным значениям",
        "en": "Applicants' financial costs comply with the normatively established values",
    },
    "QI-4": {
        "ky": "Кызматты электрондук түрдө пайдалануу мүмкүнчүлүгүнүн бар болушу",
        "ru": "Наличие возможности получить услугу в электронном виде",
        "en": "The service can be used electronically",
    },
    "QI-5": {
        "ky": "Муниципалдык кызмат көрсөтүүнүн административдик регламентинин бар болушу",
        "ru": "Наличие административного регламента оказания услуги",
        "en": "An administrative regulation exists for the service",
    },
    "QI-6": {
        "ky": "Муниципалдык кызмат көрсөтүү жөнүндө маалыматтын жалпыга маалымдоо каражаттарында, көпчүлүккө көрүнүктүү жерлерде жана маалымат тактайчаларында берилүүсү",
        "ru": "Информирование об услуге в СМИ, в общедоступных местах и на информационных стендах",
        "en": "Information about the service is provided in mass media, public places and information boards",
    },
    "QI-7": {
        "ky": "Муниципалдык кызмат көрсөтүүнүн сапатына жана жетиштүүлүгүнө жарандардын канааттануусу",
        "ru": "Удовлетворённость граждан качеством и доступностью услуги",
        "en": "Citizens are satisfied with the quality and availability of the service",
    },
    "QI-8": {
        "ky": "Муниципалдык кызмат көрсөтүүнүн сапатына байланыштуу негиздүү даттануулардын жоктугу",
        "ru": "Отсутствие обоснованных жалоб на качество оказания услуги",
        "en": "There are no justified complaints about the quality of the service",
    },
}


def pick(names: dict[str, Any] | None, lang: str, fallback: str = "") -> str:
    if not names:
        return fallback
    return str(names.get(lang) or names.get("ky") or next(iter(names.values()), fallback))


def word(key: str, lang: str) -> str:
    return pick(WORDS[key], lang, key)


@cache
def _sheet_labels() -> dict[str, Any]:
    props = json.loads((_FORMS / "full.json").read_text(encoding="utf-8"))["properties"]
    return {
        "answers": props["q1_schedule"]["x-enum-labels"],
        "kinds": props["unfounded_kinds"]["x-enum-labels"],
    }


def question_label(question: str, lang: str) -> str:
    return pick(QUESTION_SHORT.get(question), lang, question)


def answer_label(answer: str, lang: str) -> str:
    return pick(_sheet_labels()["answers"].get(answer), lang, answer)


def kind_label(kind: str, lang: str) -> str:
    return pick(_sheet_labels()["kinds"].get(kind), lang, kind).rstrip(";.")


def indicator_name(code: str, lang: str) -> str:
    return pick(INDICATORS[code], lang, code)


def service_name(report: Any, code: str, lang: str) -> str:
    return pick(report.service_names.get(code), lang, code)


def municipality_name(report: Any, municipality_id: int, lang: str) -> str:
    return pick(report.municipalities.get(municipality_id), lang, str(municipality_id))


def percent(value: float | None, lang: str) -> str:
    return word("no_data", lang) if value is None else f"{100 * value:.1f}%"


def number(value: float | None, lang: str) -> str:
    if value is None:
        return "—"
    return f"{value:.1f}" if isinstance(value, float) and not value.is_integer() else f"{value:.0f}"


def problem_text(report: Any, code: str, params: dict[str, Any], lang: str) -> str:
    values = dict(params)
    if "service" in values:
        values["service"] = service_name(report, values["service"], lang)
    if "question" in values:
        values["question"] = question_label(values["question"], lang)
    if "share" in values:
        values["share"] = percent(values["share"], lang)
    if "kinds" in values:
        values["kinds"] = ", ".join(kind_label(k, lang) for k in values["kinds"].split(", ") if k)
    return word(f"p_{code}", lang).format(**values)
