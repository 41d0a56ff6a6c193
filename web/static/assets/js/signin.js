// Guest sign-in: when the server has guests on, a person picks a name and
// gets a viewer token (POST /api/guest), kept in localStorage.

import { setText, tid } from "./dom.js";
import { messageOf } from "./messages.js";
import { toast } from "./toast.js";
import { saveToken } from "./token.js";

export class SignIn {
  // dialog is the [data-testid=guest-dialog] <dialog> (may be null in the
  // embed without guests). onToken runs after a new token is kept.
  constructor(dialog, { api, scope, guests, onToken = () => {}, noGuestsText = "Sign in on the shop's site to chat and buy." }) {
    this.dialog = dialog;
    this.api = api;
    this.scope = scope;
    this.guests = guests;
    this.onToken = onToken;
    this.noGuestsText = noGuestsText;
    this.pending = null;
    if (!dialog) return;
    this.form = tid("guest-form", dialog);
    this.form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.submit();
    });
    tid("guest-cancel", dialog).addEventListener("click", () => this.finish(null));
    dialog.addEventListener("cancel", () => this.finish(null));
  }

  // ensure resolves when the person has a token: at once, or after naming
  // themselves. It rejects ({code:"cancelled"} or "unauthorized") otherwise.
  ensure() {
    if (this.api.token) return Promise.resolve();
    if (!this.guests || !this.dialog) {
      toast(this.noGuestsText, "error", this.dialog?.getRootNode() ?? document);
      return Promise.reject(Object.assign(new Error("sign in first"), { code: "cancelled" }));
    }
    if (!this.pending) {
      this.pending = {};
      this.pending.promise = new Promise((resolve, reject) => Object.assign(this.pending, { resolve, reject }));
      setText(tid("guest-error", this.dialog), "");
      tid("guest-error", this.dialog).hidden = true;
      if (!this.dialog.open) this.dialog.showModal();
      tid("guest-name", this.dialog).focus();
    }
    return this.pending.promise;
  }

  async submit() {
    const input = tid("guest-name", this.dialog);
    const name = input.value.trim();
    if (!name) return;
    const btn = tid("guest-submit", this.dialog);
    btn.disabled = true;
    try {
      const res = await this.api.post("/api/guest", { name });
      saveToken(this.scope, res.token);
      this.api.setToken(res.token);
      this.onToken(res);
      this.finish(res);
    } catch (err) {
      const e = tid("guest-error", this.dialog);
      setText(e, messageOf(err));
      e.hidden = false;
    } finally {
      btn.disabled = false;
    }
  }

  finish(res) {
    if (this.dialog.open) this.dialog.close();
    const p = this.pending;
    this.pending = null;
    if (!p) return;
    if (res) p.resolve(res);
    else p.reject(Object.assign(new Error("cancelled"), { code: "cancelled" }));
  }
}
