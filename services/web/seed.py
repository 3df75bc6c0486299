"""Demo people for `make run`: one per role, all with the stack's generated demo password.

They exist only where the demo stack passes ``WEB_DEMO_PASSWORD``; there is no default password
in code. The contractor works for ``demo-contractor``, the company the demo claims are
dispatched to; a second contractor user (another company) shows that jobs are kept apart.
"""

from __future__ import annotations

from services.web.domain.access import Role
from services.web.store import User
from services.web.usecases import WebUseCases

ZHUZHOU = ("4302",)

DEMO_USERS: tuple[User, ...] = (
    User("demo-adjuster", "王调查 (adjuster)", Role.ADJUSTER, ZHUZHOU, None),
    User("demo-adjuster-2", "李调查 (adjuster)", Role.ADJUSTER, ZHUZHOU, None),
    User("demo-senior-reviewer", "陈复核 (senior reviewer)", Role.SENIOR_REVIEWER, ZHUZHOU, None),
    User("demo-supervisor", "赵主管 (supervisor)", Role.SUPERVISOR, ZHUZHOU, None),
    User("demo-auditor", "孙审计 (auditor)", Role.AUDITOR, ("*",), None),
    User("demo-contractor", "刘师傅 (contractor)", Role.CONTRACTOR, ZHUZHOU, "demo-contractor"),
    User("demo-contractor-2", "周师傅 (other contractor)", Role.CONTRACTOR, ZHUZHOU, "zz-lift-02"),
)


async def seed_demo_users(usecases: WebUseCases, password: str) -> int:
    for user in DEMO_USERS:
        await usecases.put_user(user, password)
    return len(DEMO_USERS)
