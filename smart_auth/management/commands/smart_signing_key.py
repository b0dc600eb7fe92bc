from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from smart_auth.signing_keys import new_signing_key_pem, write_signing_key


class Command(BaseCommand):
    help = (
        "Make a new RSA signing key for tokens and id_tokens. With --out, write it to a file "
        "(mode 600, never overwritten); without, print the PEM. Rotation: make a new key, make it "
        "the active one and pass the old one in inactive_keys (docs/vendor-guide.md)."
    )
    # The project's checks would refuse to run without a key: this command makes it.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--out", help="file to write the PEM to (must not exist)")
        parser.add_argument("--bits", type=int, default=2048, choices=[2048, 3072, 4096])

    def handle(self, *args, **options):
        pem = new_signing_key_pem(options["bits"])
        if not options["out"]:
            self.stdout.write(pem, ending="")
            return
        path = Path(options["out"])
        try:
            write_signing_key(path, pem)
        except FileExistsError:
            raise CommandError(f"{path} exists: move it aside first (see key rotation).") from None
        except OSError as exc:
            raise CommandError(f"cannot write {path}: {exc.strerror}") from None
        self.stdout.write(f"Wrote a new signing key to {path}")
