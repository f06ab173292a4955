/** The profile editor's state: the profiles, and the one being edited (see ./form.ts). */
import type { Profile } from '../../src-main/common/profiles';
import { formProblems, fromForm, toForm, type FormField, type ProfileForm } from './form';
import type { ProfileSummary } from '../../src-main/common/contract';
import { transport } from '../lib/transport';

export class ProfileEditorState {
  profiles = $state<ProfileSummary[]>([]);
  /** The profile shown (a built-in is read-only: duplicate it to change its budgets). */
  profile = $state<Profile | null>(null);
  form = $state<ProfileForm | null>(null);
  error = $state('');
  saved = $state('');
  busy = $state(false);

  get problems(): Partial<Record<FormField, string>> {
    return this.profile && this.form ? formProblems(this.profile, this.form) : {};
  }

  get editable(): boolean {
    return !!this.profile && !this.profile.builtin;
  }

  async loadList() {
    try {
      this.profiles = await transport.call('listProfiles', {});
    } catch (err) {
      this.error = (err as Error).message;
    }
  }

  async open(id: string) {
    this.error = '';
    this.saved = '';
    try {
      this.profile = await transport.call('getProfile', { id });
      this.form = toForm(this.profile);
    } catch (err) {
      this.profile = null;
      this.form = null;
      this.error = (err as Error).message;
    }
  }

  /** Copies a profile as a user profile; resolves with the copy's id. */
  async duplicate(id: string): Promise<string | null> {
    this.busy = true;
    this.error = '';
    try {
      const copy = await transport.call('duplicateProfile', { id });
      await this.loadList();
      return copy.id;
    } catch (err) {
      this.error = (err as Error).message;
      return null;
    } finally {
      this.busy = false;
    }
  }

  async save(): Promise<boolean> {
    if (!this.profile || !this.form || Object.keys(this.problems).length) return false;
    this.busy = true;
    this.error = '';
    this.saved = '';
    try {
      this.profile = await transport.call('saveProfile', { id: this.profile.id, profile: fromForm(this.profile, this.form) });
      this.form = toForm(this.profile);
      // The list shows the new budgets by the time "Saved" does.
      await this.loadList();
      this.saved = `Saved ${this.profile.name}.`;
      return true;
    } catch (err) {
      this.error = (err as Error).message;
      return false;
    } finally {
      this.busy = false;
    }
  }

  async remove(): Promise<boolean> {
    if (!this.profile) return false;
    try {
      await transport.call('deleteProfile', { id: this.profile.id });
      this.profile = null;
      this.form = null;
      await this.loadList();
      return true;
    } catch (err) {
      this.error = (err as Error).message;
      return false;
    }
  }
}

