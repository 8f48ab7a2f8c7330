from __future__ import annotations

from donatello.core.errors import Conflict


class DepartmentCodeTaken(Conflict):
    type = "department-code-taken"
    title = "Department code already in use"

    def __init__(self, code: str) -> None:
        super().__init__(f"The organization already has a department with code {code}", code=code)
