from django.apps import AppConfig


class SheetsConfig(AppConfig):
    name = "sheets"

    def ready(self):
        from accounts import signals
        from core.jobs import jobs_swept

        from . import public_links, saved_views
        from .io.job_reaping import imports_swept
        from .services.recompute import recompute_swept
        from .services.sheets import lock_workspace_sheets
        from .sharing import claim_sheet_invitations

        signals.addresses_verified.connect(claim_sheet_invitations, dispatch_uid="sheets.claim_invitations")
        signals.workspace_deleting.connect(lock_workspace_sheets, dispatch_uid="sheets.lock_workspace_sheets")
        public_links.connect_receivers()  # a publisher who stops managing the workspace: links revoked
        saved_views.connect_receivers()  # an account deleted: its personal views too
        # A jobs worker's sweep: import jobs whose worker died are run again, or failed with why.
        jobs_swept.connect(imports_swept, dispatch_uid="sheets.imports_swept")
        # ... and formula recomputes whose job died go on; TODAY() columns are refreshed each day.
        jobs_swept.connect(recompute_swept, dispatch_uid="sheets.recompute_swept")
