"""English texts: every user-facing string of the bot, as key -> str.format template."""

from __future__ import annotations

TEXTS: dict[str, str] = {
    # Welcome and consent -------------------------------------------------------------------
    "welcome": (
        "Hi! I make {portraits} AI portraits of you in the style you choose, from one "
        "front-facing headshot and {min_selfies} or more selfies.\n\n"
        "Price: {price} ⭐ (Telegram Stars), paid once per set.\n"
        "Current wait: {wait}."
    ),
    "consent": (
        "Before you send any photo, please read this and decide.\n\n"
        "Purpose: your photos are used only to make your portraits.\n"
        "Processing: your face photos are analysed by our own servers (face detection and "
        "face recognition, then image generation); apart from Telegram, which holds what you "
        "send, no one else processes them.\n"
        "What we keep: Telegram file references to your photos, encrypted, until your "
        "portraits are delivered (or at most {intake_hours} hours if you never order), "
        "plus the payment record. Photos are never written to disk and never used to train "
        "any model.\n"
        "You can erase everything at any time with /delete.\n\n"
        "Only your own face, and only adults: send photos of yourself alone, never of "
        "someone else. The service is for adults (18 and over): you state your age group "
        "below, and where our face models estimate age, photos in which a person looks under "
        "18 are refused.\n\n"
        "Do you agree to the processing of your face photos for this purpose? To agree, "
        "tap your age group: that also confirms the photos you send will show you."
    ),
    "consent_yes_18_29": "I agree · the photos show me · I'm 18–29",
    "consent_yes_30_49": "I agree · the photos show me · I'm 30–49",
    "consent_yes_50_plus": "I agree · the photos show me · I'm 50+",
    "consent_under_18": "I'm under 18",
    "consent_no": "No thanks",
    "consent_minor_refused": (
        "Thank you for telling us. This service is only for adults (18 and over), so I "
        "can't make portraits for you. Nothing was stored except this decision."
    ),
    "consent_minor_has_data": (
        "This service is only for adults (18 and over), so I can't continue. Please erase "
        "what you sent us:"
    ),
    "consent_renew": (
        "Our photo policy has changed (now version {version}). Please read it and agree "
        "again before you send more photos. Orders you have already paid are not affected."
    ),
    "consent_outdated": "This policy screen is out of date; here is the current one.",
    "privacy_own_face": (
        "Only your own face, only adults: when you agree you confirm that your photos show "
        "you, and you state your age group; we store that with your consent (policy version, "
        "a hash of the exact text you agreed to, the time). The service is for adults: "
        "“I'm under 18” ends here, with nothing stored but that decision. Every selfie is "
        "compared with your headshot and refused if it shows someone else, or if that cannot "
        "be checked. Where our face models estimate age (not every model set does), any photo "
        "whose face is estimated to be clearly under 18 is refused; otherwise the age group you "
        "state is what we rely on.\n"
        "Policy changes: when this policy's version changes, we ask for your consent again "
        "before we take any new photo; orders already paid are finished as agreed."
    ),
    "consent_given": (
        "✅ You agreed to the photo policy (version {version}) on {date}: the photos you send "
        "show you, and you are {age}. /privacy shows the policy again; /delete erases everything."
    ),
    "consent_declined_on": "✖ You declined on {date}.",
    "consent_declined": (
        "Understood: nothing was stored except your decision. If you change your mind, send /start."
    ),
    "consent_needed": (
        "I can't accept photos before you agree to the photo policy. Your photo was not "
        "stored. Send /start to read it."
    ),
    "ask_headshot": (
        "Step 1 of 3: send one front-facing headshot: just you, looking at the camera, "
        "good light, no sunglasses."
    ),
    "resume_headshot": "You are at step 1: send your front-facing headshot.",
    "resume_selfies": (
        "You are at step 2: keep sending selfies ({accepted} of {needed} accepted so far)."
    ),
    "resume_style": "You are at step 3: choose a style pack (/start shows the list again).",
    "resume_payment": "Pay your invoice to join the queue (/start sends it again).",
    "resume_style_below": "You are at step 3: choose a style pack from the list below.",
    "resume_payment_again": "Here is your invoice again, just above. Pay it to join the queue.",
    "resume_paid": "Your order is already paid and in the queue. /status shows where it is.",
    # Headshot --------------------------------------------------------------------------------
    "headshot_checking": "Got it, checking your headshot…",
    "headshot_pending": "I'm still checking your headshot; please wait for the result.",
    "headshot_accepted": (
        "Your headshot is accepted. ✅\n\n"
        "Step 2 of 3: send {min_selfies} to {max_selfies} selfies of yourself: different "
        "angles, places and light. One by one, as an album, or as image files. I mark each "
        "selfie 👍 when I take it and 👎 when I can't (the reasons are listed below)."
    ),
    "headshot_rejected": "I can't use this headshot: {reason}\nPlease send another one.",
    # Selfies ---------------------------------------------------------------------------------
    "status_title": "Your selfies",
    "status_accepted": "Accepted: {accepted} of {needed} needed",
    "status_pending": "Checking: {pending}",
    "status_rejected_title": "Not usable (each one marked 👎 on your photo):",
    "status_rejected_line": "• {reason}: {count}",
    "status_ready": "That's enough. Press Done when you have sent all you want.",
    "status_more": "Send {missing} more.",
    "status_done": "Done: {accepted} selfies accepted.",
    "done_button": "Done ✅",
    "not_enough_selfies": "Not yet: {accepted} of {needed} selfies accepted.",
    "selfies_full": "That's the maximum of {max_selfies} selfies; this one was not added.",
    "too_many_rejected": (
        "Too many photos could not be used. Send /cancel to start over, or /help."
    ),
    "duplicate_photo": "You already sent this photo; it counts once.",
    # Bad input -------------------------------------------------------------------------------
    "text_instead_of_headshot": "I need a photo here, not text: send your front-facing headshot.",
    "text_instead_of_selfies": (
        "I need photos here, not text: send selfies ({accepted} of {needed} accepted)."
    ),
    "text_no_order": "Send /start to begin.",
    "document_not_image": (
        "This file is not an image I can use. Send photos, or JPEG/PNG/WebP files."
    ),
    "document_too_large": "This file is too large (limit {limit_mb} MB). Send a smaller photo.",
    "animation_refused": "Animations and GIFs can't be used. Send a still photo.",
    "video_refused": "Videos can't be used. Send a still photo.",
    "sticker_refused": "Stickers can't be used. Send a real photo of yourself.",
    "photo_after_flow": "Your photos are complete; I don't need more for this order. {hint}",
    "photo_after_paid": (
        "Your order is paid and in the queue; new photos are not added to it. "
        "/status shows where it is."
    ),
    "photo_no_order": "Send /start first.",
    # Photo refusal reasons (decoding, then face checks) ----------------------------------------
    "reason_empty": "the file is empty",
    "reason_too_large_bytes": "the file is too large",
    "reason_not_an_image": "it is not an image",
    "reason_unsupported_format": "the image format is not supported (use JPEG, PNG, WebP or HEIC)",
    "reason_decompression_bomb": "the image is too large to open safely",
    "reason_too_many_pixels": "the image has too many pixels",
    "reason_too_small": "the image is too small",
    "reason_animated": "it is animated",
    "reason_corrupt": "the image is damaged",
    "reason_download_failed": "I could not download it from Telegram",
    "reason_no_face": "no face found",
    "reason_multiple_faces": "more than one face",
    "reason_face_too_small": "the face is too small",
    "reason_not_frontal": "the face is turned away too much",
    "reason_blurry": "too blurry",
    "reason_too_dark": "too dark",
    "reason_too_bright": "too bright",
    "reason_different_person": "it doesn't look like the person in the headshot",
    "reason_duplicate": "almost the same as another photo",
    "reason_minor": (
        "the person looks under 18, and we only make portraits of adults from their own photos"
    ),
    "reason_identity_unverified": (
        "I could not check that it shows the person in the headshot right now; please send it "
        "again in a minute"
    ),
    "reason_other": "it could not be used",
    # Style packs -----------------------------------------------------------------------------
    "choose_style": "Step 3 of 3: choose a style pack.",
    "style_line": "• {name}: {description}",
    "style_chosen": "Style: {name}. Here is your invoice.",
    "samples_button": "🖼 See samples",
    "sample_caption": "Sample of “{name}” (not made from your photos)",
    # Payment ---------------------------------------------------------------------------------
    "invoice_title": "Portrait set",
    "invoice_description": "{portraits} AI portraits of you, style “{pack}”.",
    "invoice_label": "{portraits} portraits",
    "precheckout_forged": "This invoice is not valid. Please use the latest invoice in the chat.",
    "precheckout_wrong_user": "This invoice belongs to someone else.",
    "precheckout_not_payable": (
        "This order can't be paid any more (it was cancelled or already paid). Send /start."
    ),
    "precheckout_amount": "The price of this invoice changed. Please use the latest invoice.",
    "precheckout_replaced": (
        "This invoice is for a style you changed. Please pay the latest invoice in the chat."
    ),
    "pay_button": "Pay {price} ⭐",
    "change_style_button": "Change style",
    "style_change_open": "Choose another style below; your photos are kept.",
    "precheckout_unlicensed": (
        "Payments are paused: this service runs model files whose licence does not allow paid "
        "use ({files}). Nothing was charged."
    ),
    "payment_received": (
        "Payment received, thank you! ⭐\n"
        "Your place in the queue: {position}. Estimated time: {eta}.\n"
        "I'll send your portraits here; /status shows progress."
    ),
    "payment_received_running": (
        "Payment received, thank you! ⭐ Your portraits are being made now."
    ),
    "payment_refunded": (
        "This order was cancelled before your payment arrived, so your {amount} ⭐ are being "
        "refunded automatically."
    ),
    "payment_refunded_unknown": (
        "This payment did not match an open order (it may have been a second payment for the "
        "same order), so your {amount} ⭐ are being refunded automatically."
    ),
    "payment_unconfirmed": (
        "Telegram has not confirmed this payment to us yet. If it went through, your order "
        "starts by itself within a few minutes, and you will hear from us here; if it did not, "
        "nothing was charged. /paysupport if nothing happens."
    ),
    # Commands --------------------------------------------------------------------------------
    "cmd_start": "Start or continue",
    "cmd_status": "Where is my order",
    "cmd_cancel": "Start the photos over",
    "cmd_help": "How it works",
    "cmd_privacy": "Privacy policy",
    "cmd_paysupport": "Payments and refunds",
    "cmd_language": "Language",
    "cmd_delete": "Erase all my data",
    "cmd_mydata": "Show my data",
    "help": (
        "How it works:\n"
        "1. /start and agree to the photo policy (adults only: you state your age group).\n"
        "2. Send one front-facing headshot.\n"
        "3. Send {min_selfies}–{max_selfies} selfies, then press Done.\n"
        "4. Choose a style and pay {price} ⭐.\n"
        "5. Your {portraits} portraits arrive here.\n\n"
        "Only photos of yourself: selfies that don't look like your headshot are refused, "
        "and, where our face models estimate age, so is any photo in which the face looks "
        "under 18.\n\n"
        "/status: where your order is · /cancel: start the photos over · "
        "/language: language · /privacy · /paysupport · /delete · /mydata"
    ),
    "privacy": (
        "Privacy policy (version {version})\n\n"
        "What we process: one headshot and your selfies, only to make the portraits you "
        "ordered, and only after you agree.\n"
        "How: photos are downloaded from Telegram into memory on our servers for checking "
        "and generation; they are never written to disk. Face measurements (embeddings) are "
        "computed in memory and never stored.\n"
        "What we store: Telegram file references to your photos, encrypted with a key that "
        "is yours alone. In plain form, because the queue, refunds and our repair jobs must "
        "read them without your key: your order's progress (state, style pack, price, photo "
        "counts, message numbers) with your Telegram user and chat id, your consent record "
        "and language, the time of your last message, and until when photos you asked us to "
        "keep are kept. The payment record (charge id, "
        "your Telegram user id, amount, currency, dates, outcome) for refunds, disputes and "
        "accounting.\n"
        "How long: photo references are deleted at delivery (unless, before it, you press "
        "“Keep my photos”: then your checked photos are kept for the days that button states, "
        "and deleted when they are over, or on /mydata's “Stop keeping”, or on /delete), or "
        "{intake_hours} hours after your last upload if you never pay. Order details are "
        "reduced to the payment "
        "record after {order_days} days; from then on, and after /delete, the payment record "
        "no longer names the order, so a portrait cannot be traced back to you through it. "
        "Payment records are deleted {ledger_days} days after the payment. If you send us "
        "nothing for {idle_days} days, we erase your data as /delete does, unless we still owe "
        "you portraits or a refund.\n"
        "Training: your photos and portraits are never used to train any model.\n"
        "Who: only our own servers process your photos.\n"
        "Your rights: /mydata shows what we hold; /delete erases everything (undelivered "
        "paid orders are refunded), and our database files are rewritten right after, so "
        "the erased data leaves our disks too, usually within a minute. Questions: {support}."
    ),
    "paysupport": (
        "Payments and refunds\n\n"
        "You pay {price} ⭐ once per portrait set, after your photos are accepted.\n"
        "If we fail to make your portraits, the Stars are refunded automatically.\n"
        "If you erase your data with /delete before delivery, the payment is refunded.\n"
        "For any other problem, write to {support} with the date of your payment; we answer "
        "within 2 days."
    ),
    "choose_language": "Choose your language:",
    "language_set": "Language: English.",
    "status_none": "You have no order yet. Send /start to begin.",
    "status_order": "Order {order_id}: {state}.",
    "status_photos": "Headshot: {headshot}. Selfies: {accepted} accepted, {pending} being "
    "checked, {rejected} not usable.",
    "status_queue": "Place in the queue: {position}. Estimated time: {eta}.",
    "status_progress": "Progress: {done} of {total} portraits.",
    "state_headshot": "waiting for your headshot",
    "state_selfies": "collecting selfies",
    "state_style": "waiting for your style choice",
    "state_payment": "waiting for payment",
    "state_paid": "paid, in the queue",
    "state_rendering": "your portraits are being made",
    "state_delivered": "delivered",
    "state_failed": "failed (refund on its way)",
    "state_refunded": "refunded",
    "state_cancelled": "cancelled",
    "headshot_none": "not sent",
    "headshot_pending_short": "being checked",
    "headshot_accepted_short": "accepted",
    "headshot_rejected_short": "not usable",
    "cancelled": "Cancelled. Your photos for that order were deleted; your consent is kept.",
    "cancel_nothing": "There is nothing to cancel. Send /start to begin.",
    "cancel_paid": (
        "Your order is already paid, so /cancel can't stop it. If you want a refund, "
        "use /delete or see /paysupport."
    ),
    # Buttons and errors ----------------------------------------------------------------------
    "button_stale": "This button is out of date.",
    "button_not_yours": "This button isn't yours.",
    "button_already_done": "Already done.",
    "slow_down": (
        "You're sending a lot at once, so I've set the last ones aside. Please wait about "
        "{seconds:# second|# seconds}, then carry on: I'll answer again then."
    ),
    "error_generic": "Sorry, something went wrong on our side. Please try again in a minute.",
    # Durations -------------------------------------------------------------------------------
    "eta_none": "no wait",
    "eta_minutes": "about {minutes} min",
    "eta_hours": "about {hours} h {minutes} min",
    "other_message_refused": (
        "I can only work with photos and a few commands. Send /help to see what to do next."
    ),
    "bot_description": (
        "Portrait Studio makes AI portraits of you from one headshot and a few selfies, in the "
        "style you choose, paid in Telegram Stars. Your photos are encrypted and deleted after "
        "delivery (unless you ask to keep them a few days for another style); /privacy "
        "explains, /delete erases everything."
    ),
    "bot_short_description": "AI portraits of you from a headshot and selfies. Paid in ⭐ Stars.",
    "eta_offline": "unknown for now: no portrait renderer is online (your place is kept)",
    # Privacy: /delete and /mydata ----------------------------------------------------------
    "delete_confirm": (
        "Erase all your data?\n\n"
        "This deletes your photos' file references, your orders, your consent and your "
        "settings, and destroys your encryption key; our database files are then rewritten, "
        "so no copy in them can be read again (usually within a minute). A running render is "
        "stopped and a paid order that was not delivered is refunded.\n"
        "Kept: only the payment record (charge id, your Telegram user id, amount, currency, "
        "dates, outcome), for refunds, disputes and accounting, until {ledger_days} days after "
        "the payment. It holds no photos, names or order details.\n"
        "Withdrawing your consent works the same way."
    ),
    "withdraw_consent": "Withdraw consent and erase my data",
    "delete_yes": "Erase everything",
    "delete_no": "Keep my data",
    "delete_kept": "Nothing was deleted.",
    "delete_done": (
        "Done. Erased: {orders:# order|# orders}, {photos:# photo reference|# photo references}, "
        "your consent, your settings and your encryption key. Refunded: {refunded} ⭐. Kept: "
        "{ledger:# payment record|# payment records} without photos or names. Send /start if "
        "you ever want to begin again."
    ),
    "mydata_caption": (
        "Everything Portrait Studio holds about you, as JSON. Photos themselves are never "
        "stored: only encrypted Telegram file references until delivery (or, if you asked, "
        "until the end of the days you kept them for)."
    ),
    # Render and delivery ---------------------------------------------------------------------
    "queue_notice": "You're number {position} in the queue. Estimated time: {eta}.",
    "render_progress": "Rendering your portraits: {done}/{total}",
    "album_caption": "Your portraits {first}–{last} of {total}",
    "document_caption": "Portrait {number} of {total}, full resolution",
    "render_delivered": "All {total} portraits are here. Thank you for using Portrait Studio!",
    "documents_caption": (
        "Portraits {first}–{last} of {total} at full resolution: PNG files in a .zip"
    ),
    "render_sending": "Your {total} portraits are ready. Sending them now…",
    "render_handed_over": "Your {total} portraits are ready and waiting to be sent…",
    "button_another_style": "Another style",
    "button_originals_again": "Send the originals again",
    "originals_again_none": (
        "The originals of your last order can no longer be sent again. Send /start for a new set."
    ),
    # Reuse, opt-in: keeping the checked photos after delivery for another style -------------
    "keep_offer": (
        "Want another style later without sending your photos again? Press the button below "
        "before delivery and I'll keep your checked photos (headshot and accepted selfies, "
        "encrypted) for {days} days after it; otherwise they are deleted at delivery, as "
        "always. /mydata shows them, and /delete erases them at any time."
    ),
    "keep_button": "Keep my photos {days} days for another style",
    "keep_button_undo": "✓ Keeping my photos {days} days (tap to undo)",
    "keep_on": "I'll keep your checked photos for {days} days after delivery.",
    "keep_off": "Your photos will be deleted at delivery.",
    "keep_too_late": "Your portraits were delivered already, and your photos were deleted then.",
    "kept_after_delivery": (
        "Your checked photos are kept, encrypted, until {until}: press “Another style” to order "
        "one without sending them again. /mydata shows them; /delete erases them."
    ),
    "reuse_started": (
        "Using the photos you kept (your headshot and {selfies} selfies, kept until {until}): "
        "nothing to send again."
    ),
    "kept_photos_gone": (
        "The photos you kept are no longer here: they were deleted when their time ran out "
        "(or when you asked). Please send new ones."
    ),
    "mydata_kept": (
        "Your checked photos are kept until {until} to order another style. The button below "
        "deletes them now."
    ),
    "kept_stop_button": "Stop keeping my photos",
    "kept_stopped": (
        "Done: the photos you kept are deleted, and no order of yours keeps photos after delivery."
    ),
    "kept_stop_none": "No photos of yours are kept.",
    "delivery_failed": (
        "We're sorry: some of your portraits could not be delivered to this chat. Your order "
        "is being refunded."
    ),
    "refund_apology": (
        "We're sorry: we couldn't make your portraits this time. Your {amount} Stars have "
        "been refunded. You're welcome to try again with different photos."
    ),
    # /admin (operators only: ADMIN_USER_IDS). Counts, never a user.
    "admin_refused": "This command is only for the operators of this bot.",
    "admin_title": "Operator view, {time} UTC",
    "admin_queues": "Waiting: {intake} photo checks, {render} renders, {delivery} deliveries",
    "admin_workers": "Live render workers: {workers}",
    "admin_orders": "Owed now: {paid} paid, {rendering} rendering, {failed} failed (refund due)",
    "admin_today": (
        "Today: {paid} paid, {delivered} delivered, {failed} failed, {refunded} refunded"
    ),
    "admin_sources": "Where /start came from (deep links, top {top}): {sources}",
    "admin_sources_none": "none yet",
    "group_private_only": "I work only in a private chat, where your photos stay private: {link}",
    "reason_unreadable": "I couldn't read this photo",
}
