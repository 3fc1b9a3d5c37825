from django.core.management.base import CommandError
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.models import ProductLine
from retention.jobs.shutdown import shutdown_service
from retention.management.base import JobCommand


class Command(JobCommand):
    help = (
        _(
            "Anonymise all data of a closed product line (PP-19): members who used only that line are erased, "
            "others lose the link. Always prints the dry-run report first, then asks to confirm."
        )
    )

    def add_arguments(self, parser):
        parser.add_argument("product_line", metavar="PRODUCT_LINE", help=gettext(
            "Code of the product line to shut down."
        ))
        super().add_arguments(parser)
        parser.add_argument("--no-input", action="store_true", help=gettext(
            "Do not ask for confirmation (scripts)."
        ))
        parser.add_argument("--chunk-size", type=int, default=None, help=gettext("Members per transaction."))

    def handle(self, *args, product_line: str, dry_run: bool = False, no_input: bool = False, chunk_size=None,
               **options):
        if not ProductLine.objects.filter(code=product_line).exists():
            raise CommandError(gettext(
                "No product line with code %(product_line)s."
            ) % {"product_line": f"{product_line!r}"})
        # Dry run first, always: the operator sees what will happen before anything changes.
        with self.bar(options, f"{product_line} (dry run)") as bar:
            preview = shutdown_service(product_line=product_line, dry_run=True, chunk_size=chunk_size, bar=bar)
        self.report(gettext("Shutdown of product line %(line)s") % {"line": product_line}, preview, dry_run=True)
        if dry_run:
            return
        if not no_input:
            prompt = gettext("Type the product line code (%(line)s) to anonymise its data now: ")
            answer = input(prompt % {"line": product_line})
            if answer.strip() != product_line:
                raise CommandError(gettext("Not confirmed; nothing changed."))
        with self.bar(options, product_line) as bar:
            result = shutdown_service(product_line=product_line, chunk_size=chunk_size, bar=bar)
        self.report(gettext("Shutdown of product line %(line)s") % {"line": product_line}, result, dry_run=False)
