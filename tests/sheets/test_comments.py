"""Comments on cells and rows over REST: threads, replies, edits, deletes, resolve and reopen; who
may do what (viewers read, editors write, authors edit their own, admins delete any); another
workspace's sheet is 404; bad input is a clear 400/404 that leaves nothing behind; a thread follows
its row when rows move and keeps its column across renames; mentions and replies notify."""

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from guardian.shortcuts import assign_perm, remove_perm

from accounts.models import Role
from analytics.alerts.notify import person_group
from analytics.models import Notification
from sheets import services, undo
from sheets.models import Comment, Row

from ..factories import WorkspaceFactory, make_sheet, member

pytestmark = pytest.mark.django_db


def url(sheet, comment=None, action=""):
    return (
        f"/api/v1/sheets/{sheet.pk}/comments/" + (f"{comment}/" if comment else "") + (f"{action}/" if action else "")
    )


@pytest.fixture
def rows(sheet, owner):
    services.rows_insert(sheet=sheet, actor=owner, rows=[{"c1": "a"}, {"c1": "b"}, {"c1": "c"}])
    return list(Row.objects.filter(sheet=sheet).order_by("position").values_list("pk", flat=True))


def post(api, who, sheet, **data):
    return api(who).post(url(sheet), data, format="json")


def test_an_editor_comments_on_a_cell_and_everyone_on_the_sheet_reads_it(api, sheet, rows, editor, viewer):
    answer = post(api, editor, sheet, row=rows[1], col="c2", body="Is this right?")
    assert answer.status_code == 201, answer.content
    comment = answer.json()
    assert comment["row"] == rows[1] and comment["col"] == "c2" and comment["thread"] is None
    assert comment["author"]["id"] == editor.pk and comment["body"] == "Is this right?"
    assert comment["resolved"] is False and comment["edited_at"] is None
    for who in (editor, viewer):
        listed = api(who).get(url(sheet)).json()
        assert [c["id"] for c in listed] == [comment["id"]]
    assert api(viewer).get(url(sheet, comment["id"])).json()["body"] == "Is this right?"


def test_a_row_comment_has_no_column_and_filters_narrow_to_a_row_or_a_cell(api, sheet, rows, editor):
    on_row = post(api, editor, sheet, row=rows[0], col="", body="whole row").json()
    on_cell = post(api, editor, sheet, row=rows[0], col="c1", body="one cell").json()
    post(api, editor, sheet, row=rows[2], col="c1", body="elsewhere")
    assert on_row["col"] == ""
    assert [c["id"] for c in api(editor).get(url(sheet) + f"?row={rows[0]}").json()] == [on_row["id"], on_cell["id"]]
    assert [c["id"] for c in api(editor).get(url(sheet) + f"?row={rows[0]}&col=c1").json()] == [on_cell["id"]]
    assert [c["id"] for c in api(editor).get(url(sheet) + f"?row={rows[0]}&col=").json()] == [on_row["id"]]


def test_replies_follow_their_thread_and_take_its_place(api, sheet, rows, editor, owner):
    first = post(api, editor, sheet, row=rows[0], col="c1", body="first").json()
    other = post(api, editor, sheet, row=rows[1], col="c1", body="other thread").json()
    reply = post(api, owner, sheet, thread=first["id"], body="a reply").json()
    assert reply["thread"] == first["id"] and reply["row"] == rows[0] and reply["col"] == "c1"
    assert [c["id"] for c in api(editor).get(url(sheet)).json()] == [first["id"], reply["id"], other["id"]]
    answer = post(api, owner, sheet, thread=reply["id"], body="reply to a reply")
    assert answer.status_code == 400 and "first comment" in answer.json()["error"]["message"]


def test_viewers_read_but_do_not_write_resolve_or_delete(api, sheet, rows, editor, viewer):
    comment = post(api, editor, sheet, row=rows[0], col="c1", body="x").json()
    refused = post(api, viewer, sheet, row=rows[0], col="c1", body="me too")
    assert refused.status_code == 403 and "editors comment" in refused.json()["error"]["message"]
    assert api(viewer).post(url(sheet, comment["id"], "resolve")).status_code == 403
    assert api(viewer).delete(url(sheet, comment["id"])).status_code == 403
    assert Comment.objects.count() == 1 and Comment.objects.get().resolved_at is None


def test_authors_edit_only_their_own_and_admins_delete_any(api, sheet, rows, editor, owner, workspace):
    other_editor = member(workspace, Role.EDITOR)
    comment = post(api, editor, sheet, row=rows[0], col="c1", body="typo here").json()
    assert api(other_editor).patch(url(sheet, comment["id"]), {"body": "mine now"}, format="json").status_code == 403
    edited = api(editor).patch(url(sheet, comment["id"]), {"body": "fixed"}, format="json")
    assert edited.status_code == 200 and edited.json()["body"] == "fixed" and edited.json()["edited_at"]
    assert api(other_editor).delete(url(sheet, comment["id"])).status_code == 403
    assert api(owner).patch(url(sheet, comment["id"]), {"body": "owner edit"}, format="json").status_code == 403
    assert api(owner).delete(url(sheet, comment["id"])).status_code == 204
    assert not Comment.objects.exists()


def test_deleting_a_threads_first_comment_deletes_its_replies_and_a_reply_alone(api, sheet, rows, editor, owner):
    first = post(api, editor, sheet, row=rows[0], col="c1", body="first").json()
    reply = post(api, owner, sheet, thread=first["id"], body="reply").json()
    second = post(api, owner, sheet, thread=first["id"], body="second reply").json()
    assert api(owner).delete(url(sheet, second["id"])).status_code == 204
    assert set(Comment.objects.values_list("pk", flat=True)) == {first["id"], reply["id"]}
    assert api(editor).delete(url(sheet, first["id"])).status_code == 204
    assert not Comment.objects.exists()


def test_editors_resolve_and_reopen_a_thread_and_its_marker_state_follows(api, sheet, rows, editor, owner):
    first = post(api, editor, sheet, row=rows[0], col="c1", body="first").json()
    reply = post(api, owner, sheet, thread=first["id"], body="reply").json()
    resolved = api(owner).post(url(sheet, reply["id"], "resolve"))  # asked of a reply: its thread
    assert resolved.status_code == 200
    assert resolved.json()["id"] == first["id"] and resolved.json()["resolved"]
    assert resolved.json()["resolved_by"]["id"] == owner.pk
    assert api(editor).get(url(sheet) + "?resolved=0").json() == []
    assert [c["id"] for c in api(editor).get(url(sheet) + "?resolved=1").json()] == [first["id"], reply["id"]]
    reopened = api(editor).post(url(sheet, first["id"], "reopen")).json()
    assert reopened["resolved"] is False and reopened["resolved_by"] is None
    assert len(api(editor).get(url(sheet) + "?resolved=0").json()) == 2


def test_another_workspaces_sheet_and_comment_are_not_found(api, sheet, rows, editor, outsider):
    comment = post(api, editor, sheet, row=rows[0], col="c1", body="x").json()
    assert api(outsider).get(url(sheet)).status_code == 404
    assert post(api, outsider, sheet, row=rows[0], col="c1", body="x").status_code == 404
    assert api(outsider).delete(url(sheet, comment["id"])).status_code == 404
    elsewhere_owner = member(WorkspaceFactory(), Role.OWNER)
    elsewhere = make_sheet(elsewhere_owner.memberships.get().workspace, elsewhere_owner, rows=1)
    # A comment id of another sheet, through a sheet one may edit: not found either.
    assert api(elsewhere_owner).get(url(elsewhere, comment["id"])).status_code == 404
    assert api(elsewhere_owner).delete(url(elsewhere, comment["id"])).status_code == 404
    assert Comment.objects.count() == 1


def test_a_sheet_shared_singly_counts_like_a_role(api, sheet, rows, editor, outsider):
    assign_perm("view_sheet", outsider, sheet)
    post(api, editor, sheet, row=rows[0], col="c1", body="x")
    assert len(api(outsider).get(url(sheet)).json()) == 1
    assert post(api, outsider, sheet, row=rows[0], col="c1", body="y").status_code == 403
    assign_perm("change_sheet", outsider, sheet)
    assert post(api, outsider, sheet, row=rows[0], col="c1", body="y").status_code == 201


# --- bad input: a clear error, nothing stored, nobody notified --------------------------------------


def test_a_comment_on_a_deleted_row_is_refused_but_its_old_threads_stay(api, sheet, rows, editor, owner, viewer):
    kept = post(api, editor, sheet, row=rows[0], col="c1", body="before", mentions=[viewer.pk]).json()
    services.rows_delete(sheet=sheet, actor=owner, row_ids=[rows[0]])
    Notification.objects.all().delete()
    answer = post(api, editor, sheet, row=rows[0], col="c1", body="after", mentions=[viewer.pk])
    assert answer.status_code == 404 and f"row {rows[0]} not found" in answer.json()["error"]["message"]
    reply = post(api, editor, sheet, thread=kept["id"], body="reply", mentions=[viewer.pk])
    assert reply.status_code == 404 and "deleted" in reply.json()["error"]["message"]
    assert list(Comment.objects.values_list("pk", flat=True)) == [kept["id"]]
    assert not Notification.objects.exists()
    assert [c["id"] for c in api(viewer).get(url(sheet)).json()] == [kept["id"]]


def test_undoing_the_rows_deletion_opens_its_threads_to_replies_again(api, sheet, rows, editor, owner):
    kept = post(api, editor, sheet, row=rows[1], col="", body="on the row").json()
    services.rows_delete(sheet=sheet, actor=owner, row_ids=[rows[1]])
    assert post(api, editor, sheet, thread=kept["id"], body="reply").status_code == 404
    undo.operation_undo(sheet=sheet, actor=owner)
    assert post(api, editor, sheet, thread=kept["id"], body="reply").status_code == 201


def test_a_mention_of_someone_who_cannot_see_the_sheet_is_refused_and_nothing_is_stored(
    api, sheet, rows, editor, viewer, outsider
):
    answer = post(api, editor, sheet, row=rows[0], col="c1", body="@both", mentions=[viewer.pk, outsider.pk])
    assert answer.status_code == 400
    assert answer.json()["error"]["message"] == f"user {outsider.pk} cannot see this sheet: mention only people who can"
    # An id of nobody reads the same: accounts are not revealed.
    nobody = post(api, editor, sheet, row=rows[0], col="c1", body="@x", mentions=[outsider.pk + 1000])
    assert nobody.status_code == 400 and "cannot see this sheet" in nobody.json()["error"]["message"]
    assert not Comment.objects.exists() and not Notification.objects.exists()


@pytest.mark.parametrize(
    "data,status,words",
    [
        ({"body": "   "}, 400, "empty"),
        ({"body": "x" * 5001}, 400, "longer than 5000"),
        ({"body": "nul \x00 here"}, 400, "ull"),
        ({"body": "x", "mentions": "7"}, 400, "mentions"),
        ({"body": "x", "mentions": [True]}, 400, "mentions"),
        ({"body": "x", "col": "c99"}, 404, "column 'c99' not found"),
        ({"body": "x", "row": 2**62}, 404, "not found"),
        ({"body": "x", "row": 2**64}, 400, "row"),
        ({"body": "x", "row": "abc"}, 400, "row"),
        ({"body": "x", "thread": 2**62, "row": None}, 404, "comment 4611686018427387904 not found"),
    ],
)
def test_bad_input_is_a_clear_error(api, sheet, rows, editor, data, status, words):
    data = {"row": rows[0], "col": "c1", **data}
    data = {k: v for k, v in data.items() if v is not None}
    answer = post(api, editor, sheet, **data)
    assert answer.status_code == status, answer.content
    assert words in answer.json()["error"]["message"]
    assert not Comment.objects.exists()


def test_a_deleted_column_takes_no_new_comment(api, sheet, rows, editor, owner):
    services.column_delete(sheet=sheet, actor=owner, key="c3")
    answer = post(api, editor, sheet, row=rows[0], col="c3", body="x")
    assert answer.status_code == 404 and "c3" in answer.json()["error"]["message"]


def test_hostile_text_is_stored_and_answered_as_written(api, sheet, rows, editor):
    body = "<script>alert(1)</script> \u202eRTL\u202c 👩‍👩‍👧 <img src=x onerror=alert(2)>"
    answer = post(api, editor, sheet, row=rows[0], col="c1", body=body)
    assert answer.status_code == 201 and answer.json()["body"] == body
    assert api(editor).get(url(sheet)).json()[0]["body"] == body


def test_threads_come_in_pages_with_their_replies(api, sheet, rows, editor):
    firsts = [post(api, editor, sheet, row=rows[0], col="c1", body=f"t{i}").json()["id"] for i in range(3)]
    reply = post(api, editor, sheet, thread=firsts[0], body="r").json()["id"]
    page = [c["id"] for c in api(editor).get(url(sheet) + "?threads=2").json()]
    assert page == [firsts[0], reply, firsts[1]]
    rest = [c["id"] for c in api(editor).get(url(sheet) + f"?threads=2&after={firsts[1]}").json()]
    assert rest == [firsts[2]]
    assert api(editor).get(url(sheet) + f"?threads=2&after={firsts[2]}").json() == []


def test_bad_query_parameters_are_400(api, sheet, editor):
    for query in ("row=x", "row=0", "resolved=2", "resolved=yes", "threads=0", "threads=1001", "after=-1"):
        assert api(editor).get(url(sheet) + "?" + query).status_code == 400, query
    assert api(editor).get(url(sheet) + "?row=1&col=%00").json() == []


# --- threads follow rows and columns -----------------------------------------------------------------


def test_a_thread_follows_its_row_when_rows_move_and_survives_a_column_rename(api, sheet, rows, editor, owner):
    comment = post(api, editor, sheet, row=rows[2], col="c1", body="about c").json()
    services.rows_move(sheet=sheet, actor=owner, row_ids=[rows[2]], before=rows[0])
    services.column_rename(sheet=sheet, actor=owner, key="c1", name="Renamed")
    first = api(editor).get(f"/api/v1/sheets/{sheet.pk}/rows/?limit=1").json()["rows"][0]
    assert first["id"] == rows[2] and first["values"]["c1"] == "c"  # the commented row is first now
    [still] = api(editor).get(url(sheet) + f"?row={rows[2]}&col=c1").json()
    assert still["id"] == comment["id"] and still["body"] == "about c"


# --- mentions and replies notify --------------------------------------------------------------------


def test_a_mention_and_a_reply_notify_through_the_bell(api, sheet, rows, editor, owner, viewer):
    first = post(api, editor, sheet, row=rows[0], col="c1", body="@viewer look", mentions=[viewer.pk, editor.pk])
    assert [m["id"] for m in first.json()["mentions"]] == [viewer.pk, editor.pk]
    [mention] = Notification.objects.filter(user=viewer)
    assert mention.kind == "mention" and mention.rule is None
    assert mention.message.startswith(f"{editor.label} mentioned you on {sheet.name}: “@viewer look”")
    assert mention.link == f"/sheets/{sheet.pk}/?comment={first.json()['id']}"
    assert not Notification.objects.filter(user=editor).exists()  # one's own mention is no news
    post(api, owner, sheet, thread=first.json()["id"], body="done")
    [reply] = Notification.objects.filter(user=editor)
    assert reply.kind == "reply" and "replied in your thread" in reply.message
    inbox = api(viewer).get("/api/v1/notifications/").json()
    assert inbox["unread"] == 1 and inbox["results"][0]["message"] == mention.message
    assert inbox["results"][0]["kind"] == "mention" and inbox["results"][0]["link"] == mention.link


def test_a_mention_reaches_someone_the_sheet_is_shared_with_live_and_in_their_inbox(
    api, sheet, rows, editor, outsider, django_capture_on_commit_callbacks
):
    assign_perm("view_sheet", outsider, sheet)  # no member of the workspace
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(person_group(outsider.pk), channel)
    with django_capture_on_commit_callbacks(execute=True):
        post(api, editor, sheet, row=rows[0], col="c1", body="for you", mentions=[outsider.pk])
    [notification] = api(outsider).get("/api/v1/notifications/").json()["results"]
    assert notification["message"].endswith("“for you”")
    pushed = async_to_sync(layer.receive)(channel)
    assert pushed["type"] == "notification.created" and pushed["notification"]["id"] == notification["id"]
    assert pushed["notification"]["kind"] == "mention"
    assert api(outsider).post(f"/api/v1/notifications/{notification['id']}/read/").status_code == 200
    remove_perm("view_sheet", outsider, sheet)  # no longer shared: gone from the inbox
    assert api(outsider).get("/api/v1/notifications/").json()["results"] == []


def test_an_edit_notifies_only_those_newly_mentioned(api, sheet, rows, editor, owner, viewer):
    comment = post(api, editor, sheet, row=rows[0], col="c1", body="hi", mentions=[viewer.pk]).json()
    api(editor).patch(url(sheet, comment["id"]), {"body": "hi all", "mentions": [viewer.pk, owner.pk]}, format="json")
    assert Notification.objects.filter(user=viewer).count() == 1
    assert Notification.objects.filter(user=owner, kind="mention").count() == 1


def test_mentionable_people_are_those_who_can_see_the_sheet(api, sheet, editor, viewer, outsider, workspace):
    shared = member(WorkspaceFactory(), Role.VIEWER, display_name="Shared Sam")
    assign_perm("view_sheet", shared, sheet)
    found = api(viewer).get(url(sheet) + "mentionable/?limit=50").json()
    ids = {p["id"] for p in found}
    assert {editor.pk, viewer.pk, shared.pk} <= ids and outsider.pk not in ids
    assert [p["id"] for p in api(viewer).get(url(sheet) + "mentionable/?q=sam").json()] == [shared.pk]
    assert api(outsider).get(url(sheet) + "mentionable/").status_code == 404
    assert api(viewer).get(url(sheet) + "mentionable/?limit=0").status_code == 400


def test_operators_read_comments_in_the_admin(admin_client, api, sheet, rows, editor):
    comment = post(api, editor, sheet, row=rows[0], col="c1", body="<i>seen</i> by operators").json()
    listed = admin_client.get("/admin/sheets/comment/")
    assert listed.status_code == 200 and b"<i>seen" not in listed.content  # escaped, never markup
    page = admin_client.get(f"/admin/sheets/comment/{comment['id']}/change/")
    assert page.status_code == 200 and b"&lt;i&gt;seen&lt;/i&gt; by operators" in page.content
